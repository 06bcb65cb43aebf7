"""The three data-preparation steps as plain functions over a boto3 S3 client.

``profile_year``: top-N event codes of the base year, or the cached manifest when the dataset exists.
``shard_year``: one GDELT year → ``train/``+``validation/`` (90/10 after a seeded shuffle) or ``test/``; the
train rows are dealt round-robin into ``instanceCount`` parts (``lambdas.lambda_common.sharding``).
``finalize_dataset``: checks every shard object, then writes ``manifest.json`` last.
Manifests, statistics and key lists stay in S3: what the handlers return into the execution's state is a
summary (``shard_summary``, ``dataset_summary``), so no valid input can push a state past Step Functions'
256 KiB payload limit (tests/test_stack_payload.py).
Each function parses its event with its class in ``lambdas.lambda_common.contracts`` (the input schema's
bounds); event and output shapes are the contract in docs/ARCHITECTURE.md ("Data preparation").
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lambdas.dataprep.encoding import OneHotRecordEncoder, feature_dim_for, shuffled_order, split_point
from lambdas.dataprep.errors import (
    DataPreparationError,
    InvalidEventError,
    OutputWriteError,
    SourceDataError,
    TooManyBadRowsError,
)
from lambdas.dataprep.gdelt import (
    LABEL,
    NUMERIC_FEATURES,
    VALUES_PER_ROW,
    KeptRows,
    ScanStats,
    event_code_sort_key,
    scan_rows,
)
from lambdas.dataprep.s3io import (
    DEFAULT_PART_SIZE,
    S3Client,
    delete_quietly,
    describe_client_error,
    is_missing_object,
    open_lines,
    write_objects,
)
from lambdas.lambda_common.contracts import FinalizeEvent, ProfileEvent, ProfileResult, ShardEvent, event_codes
from lambdas.lambda_common.gdelt_sources import group_count, group_keys
from lambdas.lambda_common.sharding import deal_round_robin, host_loads, part_offset, train_part_key
from lambdas.lambda_common.vocabulary import (
    DATASET_MANIFEST,
    JSON,
    RECORDIO_PROTOBUF,
    SHARDED_BY_S3_KEY,
    TEST_CHANNEL,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
)

MANIFEST_NAME = DATASET_MANIFEST
STATISTICS_FOLDER = "shards/"  # <datasetPrefix>shards/<year>-<group:02d>.json: one shard's statistics and keys
MANIFEST_FORMAT = "shardlab-dataset/2"  # /2: train channel in parts, per-host loads
# A train year's rows go to the train and validation channels, the test year's to the test folder.
CHANNEL_FOR_ROLE = {"train": (TRAIN_CHANNEL, VALIDATION_CHANNEL), "test": (TEST_CHANNEL,)}
CHANNELS = (TRAIN_CHANNEL, VALIDATION_CHANNEL, TEST_CHANNEL)


# --- shared checks ------------------------------------------------------------------------------------


def check_row_quality(stats: ScanStats, where: str, max_bad_row_fraction: float) -> None:
    """Fails on an empty source or when more than ``max_bad_row_fraction`` of its rows are malformed."""
    if stats.rows_read == 0:
        raise SourceDataError(f"{where} is empty: no rows to prepare")
    bad = stats.bad_rows
    if bad > max_bad_row_fraction * stats.rows_read:
        raise TooManyBadRowsError(
            f"{where}: {bad} of {stats.rows_read} rows ({bad / stats.rows_read:.2%}) are malformed, more than "
            f"maxBadRowFraction={max_bad_row_fraction} allows ({stats.bad_row_summary()})"
        )


def read_manifest(s3: S3Client, bucket: str, dataset_prefix: str) -> dict[str, Any] | None:
    """The dataset's manifest, or None when the dataset is not complete (no manifest yet)."""
    key = f"{dataset_prefix}{MANIFEST_NAME}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if is_missing_object(error):
            return None
        raise DataPreparationError(f"cannot read s3://{bucket}/{key}: {describe_client_error(error)}") from error
    try:
        manifest = json.loads(body)
    except ValueError as error:
        raise DataPreparationError(f"s3://{bucket}/{key} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise DataPreparationError(f"s3://{bucket}/{key} is not a {MANIFEST_FORMAT} manifest")
    return manifest


# --- profile ------------------------------------------------------------------------------------------


def top_event_codes(code_counts: Mapping[bytes, int], top_n: int) -> list[str]:
    """The ``top_n`` most frequent codes (ties: lower numeric code first), returned in numeric order."""
    ranked = sorted(code_counts.items(), key=lambda item: (-item[1], *event_code_sort_key(item[0].decode())))
    return sorted((code.decode() for code, _count in ranked[:top_n]), key=event_code_sort_key)


def profile_year(s3: S3Client, event: Mapping[str, Any]) -> ProfileResult:
    request = ProfileEvent.parse(event, error=InvalidEventError)
    source_bucket, source_prefix, year = request.source_bucket, request.source_prefix, request.year
    top_n, bucket, dataset_prefix = request.top_event_codes, request.bucket, request.dataset_prefix
    max_bad = request.max_bad_row_fraction

    manifest = read_manifest(s3, bucket, dataset_prefix)
    if manifest is not None:
        if manifest.get("featureDim") != feature_dim_for(top_n):
            raise DataPreparationError(
                f"s3://{bucket}/{dataset_prefix}{MANIFEST_NAME} has featureDim {manifest.get('featureDim')}, "
                f"but topEventCodes={top_n} needs {feature_dim_for(top_n)}: the dataset prefix is reused"
            )
        return {
            "cached": True,
            "eventCodes": manifest["eventCodes"],
            "counts": manifest["counts"],
            "featureDim": manifest["featureDim"],
            "manifest": f"s3://{bucket}/{dataset_prefix}{MANIFEST_NAME}",  # the manifest itself stays in S3
        }

    # The base year's first group: the whole year up to 2005, its first month after (one invocation must scan it
    # within 15 minutes; a daily year is 365 objects).
    keys = group_keys(source_prefix, year, 0)
    where = _where(source_bucket, keys)
    code_counts: dict[bytes, int] = {}
    stats = _scan(s3, source_bucket, keys, None, code_counts=code_counts)
    check_row_quality(stats, where, max_bad)
    if len(code_counts) < top_n:
        raise SourceDataError(
            f"{where} (year {year}) has only {len(code_counts)} distinct event codes; "
            f"topEventCodes={top_n} needs at least {top_n}"
        )
    codes = top_event_codes(code_counts, top_n)
    return {
        "cached": False,
        "eventCodes": codes,
        "counts": {code: code_counts[code.encode()] for code in codes},
        "featureDim": feature_dim_for(len(codes)),
        "manifest": None,
    }


# --- shard --------------------------------------------------------------------------------------------


def _scan(
    s3: S3Client,
    bucket: str,
    keys: list[str],
    selected_codes: dict[bytes, int] | None,
    *,
    code_counts: dict[bytes, int] | None = None,
    kept: KeptRows | None = None,
) -> ScanStats:
    """``scan_rows`` over a source group's objects in order; a missing one fails with SourceDataError naming it."""
    stats = ScanStats()
    for key in keys:
        with open_lines(s3, bucket, key) as lines:
            scan_rows(lines, stats, selected_codes, code_counts=code_counts, kept=kept)
    return stats


def _keep_rows(s3: S3Client, request: ShardEvent, keys: list[str], where: str) -> tuple[ScanStats, KeptRows]:
    """The group's rows that pass the seed notebook's filter, before anything is written."""
    kept = KeptRows()
    selected = {code.encode(): index for index, code in enumerate(request.event_codes)}
    stats = _scan(s3, request.source_bucket, keys, selected, kept=kept)
    check_row_quality(stats, where, request.max_bad_row_fraction)
    if len(kept) == 0:
        raise SourceDataError(
            f"{where} (year {request.year}): none of {stats.rows_read} rows passed the filter (event code in the "
            f"selected {len(request.event_codes)}, both actors geocoded): {stats.rejected}"
        )
    return stats, kept


def _plan_outputs(request: ShardEvent, row_count: int, where: str) -> list[tuple[str, Sequence[int]]]:
    """(key, row order) per object: a train year's shuffled rows as instanceCount train parts + validation, or
    the test year's rows unshuffled (as the notebook)."""
    year, group, prefix = request.year, request.group, request.dataset_prefix
    suffix = "" if group_count(year) == 1 else f"-{group:02d}"  # <year>.data, or <year>-<group>.data per month
    if request.role != "train":
        return [(f"{prefix}{TEST_CHANNEL}/{year}{suffix}.data", range(row_count))]
    order = shuffled_order(row_count, request.seed + group)
    cut = split_point(row_count, request.train_fraction)
    if cut in (0, row_count):
        raise SourceDataError(
            f"{where} (year {year}) kept only {row_count} rows: too few for a "
            f"{request.train_fraction:g}/{1 - request.train_fraction:g} train/validation split"
        )
    if cut < request.instance_count:
        raise SourceDataError(
            f"{where} (year {year}) has only {cut} training rows: too few to give each of "
            f"instanceCount={request.instance_count} hosts at least one"
        )
    parts = deal_round_robin(order[:cut], request.instance_count, part_offset(year, group, request.instance_count))
    outputs = [(train_part_key(prefix, year, group, part), rows) for part, rows in enumerate(parts)]
    outputs.append((f"{prefix}{VALIDATION_CHANNEL}/{year}{suffix}.data", order[cut:]))
    return outputs


# Records per chunk handed to the writer: 1,024 rather than the encoder's 8,192 lowers the shard step's peak
# RSS by ~10 MiB at no cost in time (bench/bench_shard.py).
_WRITE_CHUNK_ROWS = 1024


def _write_outputs(
    s3: S3Client,
    bucket: str,
    outputs: list[tuple[str, Sequence[int]]],
    *,
    kept: KeptRows,
    encoder: OneHotRecordEncoder,
    part_size: int,
) -> tuple[list[str], int]:
    """(keys written, bytes written); a year is all its objects or none of them (dataprep.s3io.write_objects)."""
    objects = [(key, functools.partial(encoder.iter_chunks, kept, rows, _WRITE_CHUNK_ROWS)) for key, rows in outputs]
    return write_objects(s3, bucket, objects, part_size=part_size, content_type=RECORDIO_PROTOBUF)


def shard_year(s3: S3Client, event: Mapping[str, Any], *, part_size: int = DEFAULT_PART_SIZE) -> dict[str, Any]:
    request = ShardEvent.parse(event, error=InvalidEventError)
    keys = group_keys(request.source_prefix, request.year, request.group)
    where = _where(request.source_bucket, keys)
    stats, kept = _keep_rows(s3, request, keys, where)
    outputs = _plan_outputs(request, len(kept), where)
    encoder = OneHotRecordEncoder(len(request.event_codes))
    written, bytes_out = _write_outputs(s3, request.bucket, outputs, kept=kept, encoder=encoder, part_size=part_size)
    # Each object's label sum (of the float32 labels it holds, exactly rounded), so the compare step takes the
    # naive baseline's training mean from the manifest instead of reading every train object again.
    labels = memoryview(kept.values)[len(NUMERIC_FEATURES) :: VALUES_PER_ROW]  # a strided view: no copy
    label_sums = {key: math.fsum(map(labels.__getitem__, rows)) for key, rows in outputs}
    statistics = {
        "year": request.year,
        "group": request.group,
        "role": request.role,
        "sourceObjects": len(keys),
        "rowsRead": stats.rows_read,
        "rowsKept": len(kept),
        "rejected": dict(stats.rejected),
        "notes": dict(stats.notes),
        "bytesIn": stats.bytes_read,
        "bytesOut": bytes_out,
        "keys": written,
        "labelSums": label_sums,
        "featureDim": encoder.feature_dim,
    }
    key = statistics_key(request.dataset_prefix, request.year, request.group)
    try:
        s3.put_object(Bucket=request.bucket, Key=key, Body=json.dumps(statistics).encode(), ContentType=JSON)
    except ClientError as error:
        delete_quietly(s3, request.bucket, written)  # a group is all its objects (statistics included) or none
        raise OutputWriteError(f"writing s3://{request.bucket}/{key} failed: {describe_client_error(error)}") from error
    return statistics


def statistics_key(dataset_prefix: str, year: int, group: int) -> str:
    return f"{dataset_prefix}{STATISTICS_FOLDER}{year}-{group:02d}.json"


def shard_summary(statistics: Mapping[str, Any]) -> dict[str, Any]:
    """What the shard Lambda returns into the state: a few numbers; the statistics and keys stay in S3."""
    return {
        "year": statistics["year"],
        "group": statistics["group"],
        "role": statistics["role"],
        "rowsKept": statistics["rowsKept"],
        "objects": len(statistics["keys"]),
    }


def _where(bucket: str, keys: list[str]) -> str:
    if len(keys) == 1:
        return f"s3://{bucket}/{keys[0]}"
    return f"s3://{bucket}/{keys[0]} .. {keys[-1].rsplit('/', 1)[-1]} ({len(keys)} objects)"


# --- finalize -----------------------------------------------------------------------------------------


def _profile_codes(profile: Any) -> list[str]:
    """The event codes of the profile step's output, whose featureDim must match them."""
    if not isinstance(profile, dict) or not isinstance(profile.get("eventCodes"), list):
        raise InvalidEventError("profile must be the profile step's output (with eventCodes)")
    try:
        codes = event_codes("eventCodes", profile["eventCodes"])
    except ValueError as error:
        raise InvalidEventError(str(error)) from None
    if profile.get("featureDim") != feature_dim_for(len(codes)):
        raise InvalidEventError(f"profile featureDim {profile.get('featureDim')} != 5 + {len(codes)} codes")
    return codes


def _shard_groups(shards: Any) -> list[tuple[int, int]]:
    """(year, group) of each "Shard years" Map item (or shard summary): every group once."""
    if not isinstance(shards, list) or not shards:
        raise InvalidEventError("shards must be a non-empty list of the Map's items (year, group)")
    groups: list[tuple[int, int]] = []
    for shard in shards:
        year, group = (shard.get("year"), shard.get("group", 0)) if isinstance(shard, dict) else (None, None)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (year, group)):
            raise InvalidEventError(f"each shard must name its year and group, got {shard!r}")
        assert isinstance(year, int) and isinstance(group, int)
        if (year, group) in groups:
            raise InvalidEventError(f"year {year} group {group} appears in more than one shard")
        groups.append((year, group))
    return groups


def _read_statistics(s3: S3Client, bucket: str, dataset_prefix: str, year: int, group: int) -> dict[str, Any]:
    """The statistics the shard step wrote for one group (its keys among them)."""
    key = statistics_key(dataset_prefix, year, group)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        raise DataPreparationError(
            f"shard statistics s3://{bucket}/{key} are not readable ({describe_client_error(error)}): "
            "the dataset is incomplete, so no manifest is written"
        ) from error
    try:
        statistics = json.loads(body)
    except ValueError as error:
        raise DataPreparationError(f"s3://{bucket}/{key} is not valid JSON: {error}") from error
    if not isinstance(statistics, dict) or not isinstance(statistics.get("keys"), list):
        raise DataPreparationError(f"s3://{bucket}/{key} is not a shard step's statistics (with keys)")
    return statistics


def _channel_keys(
    shards: list[dict[str, Any]], dataset_prefix: str, feature_dim: int
) -> list[tuple[str, str, Any, float | None]]:
    """(key, channel, year, label sum) of every object the shard statistics name; all checked before the listing.
    The label sum is None in statistics written before the shard step summed labels."""
    channel_keys: list[tuple[str, str, Any, float | None]] = []
    for shard in shards:
        year = shard.get("year")
        if shard.get("featureDim") != feature_dim:
            raise InvalidEventError(
                f"shard for {year} has featureDim {shard.get('featureDim')}, expected {feature_dim}"
            )
        for key in shard["keys"]:
            channel = key[len(dataset_prefix) :].split("/", 1)[0] if key.startswith(dataset_prefix) else ""
            if channel not in CHANNELS:
                raise DataPreparationError(f"shard key {key!r} is not a channel object under {dataset_prefix!r}")
            label_sum = (shard.get("labelSums") or {}).get(key)
            channel_keys.append((key, channel, year, label_sum if isinstance(label_sum, int | float) else None))
    return channel_keys


def _listed_sizes(s3: S3Client, bucket: str, dataset_prefix: str) -> dict[str, int]:
    """Every channel object's size, from the listing (a few pages instead of one HEAD per object)."""
    sizes: dict[str, int] = {}
    for channel in CHANNELS:
        request = {"Bucket": bucket, "Prefix": f"{dataset_prefix}{channel}/"}
        while True:
            try:
                page = s3.list_objects_v2(**request)
            except ClientError as error:
                raise DataPreparationError(
                    f"cannot list s3://{bucket}/{request['Prefix']}: {describe_client_error(error)}"
                ) from error
            sizes.update((item["Key"], item["Size"]) for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            request["ContinuationToken"] = page["NextContinuationToken"]
    return sizes


def _checked_objects(
    sizes: Mapping[str, int], bucket: str, channel_keys: list[tuple[str, str, Any, float | None]], record_size: int
) -> list[dict[str, Any]]:
    """Each object's size, records and label sum: it must be listed and hold whole records."""
    objects: list[dict[str, Any]] = []
    for key, channel, year, label_sum in channel_keys:
        size = sizes.get(key)
        if size is None:
            raise DataPreparationError(
                f"shard object s3://{bucket}/{key} is not readable (not listed under its channel): "
                "the dataset is incomplete, so no manifest is written"
            )
        if size % record_size:
            raise DataPreparationError(
                f"s3://{bucket}/{key} is {size} bytes, not a whole number of {record_size}-byte records"
            )
        objects.append({"key": key, "channel": channel, "year": year, "bytes": size, "records": size // record_size,
                        **({"labelSum": label_sum} if label_sum is not None else {})})
    return objects


def _manifest(
    event: Mapping[str, Any],
    *,
    codes: list[str],
    record_size: int,
    objects: list[dict[str, Any]],
    instance_count: int,
    shards: list[dict[str, Any]],
) -> dict[str, Any]:
    bucket, dataset_prefix = event["bucket"], event["datasetPrefix"]
    train_objects = [o for o in objects if o["channel"] == TRAIN_CHANNEL]
    return {
        "format": MANIFEST_FORMAT,
        "bucket": bucket,
        "datasetPrefix": dataset_prefix,
        "eventCodes": codes,
        "counts": event["profile"].get("counts", {}),
        "featureDim": feature_dim_for(len(codes)),
        "label": LABEL,
        "features": [*NUMERIC_FEATURES, *(f"EventCode_{code}" for code in codes)],
        "recordFormat": RECORDIO_PROTOBUF,
        "recordBytes": record_size,
        "channels": {channel: sorted(o["key"] for o in objects if o["channel"] == channel) for channel in CHANNELS},
        "objects": objects,
        "plan": {
            "instanceCount": instance_count,
            "trainObjects": len(train_objects),
            "rule": "each source group's train rows dealt round-robin into instanceCount parts; "
            f"{SHARDED_BY_S3_KEY} host algo-(i+1) reads keys[i::instanceCount] in S3 key order",
        },
        "hosts": host_loads(train_objects, instance_count),
        "shards": shards,
        "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def finalize_dataset(s3: S3Client, event: Mapping[str, Any]) -> dict[str, Any]:
    """Reads each group's statistics, checks every object they name (listed, whole records), then writes the
    manifest last and returns it (the handler returns ``dataset_summary`` of it)."""
    request = FinalizeEvent.parse(event, error=InvalidEventError)
    bucket, dataset_prefix, profile = request.bucket, request.dataset_prefix, request.profile
    groups = _shard_groups(request.shards)
    instance_count = request.instance_count
    codes = _profile_codes(profile)
    record_size = OneHotRecordEncoder(len(codes)).record_size
    shards = [_read_statistics(s3, bucket, dataset_prefix, year, group) for year, group in groups]
    channel_keys = _channel_keys(shards, dataset_prefix, feature_dim_for(len(codes)))
    train_count = sum(channel == TRAIN_CHANNEL for _key, channel, _year, _sum in channel_keys)
    if train_count < instance_count:
        raise InvalidEventError(
            f"{train_count} train objects cannot feed instanceCount={instance_count} {SHARDED_BY_S3_KEY} hosts"
        )
    objects = _checked_objects(_listed_sizes(s3, bucket, dataset_prefix), bucket, channel_keys, record_size)
    manifest = _manifest(event, codes=codes, record_size=record_size, objects=objects,
                         instance_count=instance_count, shards=shards)
    s3.put_object(
        Bucket=bucket,
        Key=f"{dataset_prefix}{MANIFEST_NAME}",
        Body=json.dumps(manifest, indent=1).encode(),
        ContentType=JSON,
    )
    return manifest


def dataset_summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the finalize Lambda returns into the state: where the manifest is and a few counts."""
    return {
        "manifest": f"s3://{manifest['bucket']}/{manifest['datasetPrefix']}{MANIFEST_NAME}",
        "featureDim": manifest["featureDim"],
        "channels": {
            channel: {
                "objects": sum(o["channel"] == channel for o in manifest["objects"]),
                "records": sum(o["records"] for o in manifest["objects"] if o["channel"] == channel),
            }
            for channel in CHANNELS
        },
    }
