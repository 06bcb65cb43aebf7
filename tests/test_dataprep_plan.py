"""The shard planner: every ShardedByS3Key host gets the same work, whatever instanceCount and the years are.

The bundled years differ a lot in size (1983 has about 5x the rows of 1979), so one object per year would give
hosts very different work; the planner deals every year's shuffled train rows into instanceCount parts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from moto_helpers import mocked_s3
from test_dataprep_s3 import BUCKET, PREFIX, SOURCE_BUCKET, make_row, profile_event, put_source, shard_event

from lambdas.dataprep.errors import SourceDataError
from lambdas.dataprep.pipeline import finalize_dataset, profile_year, shard_year
from lambdas.lambda_common.sharding import assigned_objects, deal_round_robin, host_loads, train_part_key
from lambdas.workflow_input.config import build_config, dataset_prefix_for
from local.channels import assign_objects, list_channel_objects

TRAIN_YEARS = (1979, 1980, 1981, 1982, 1983)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_s3(monkeypatch, SOURCE_BUCKET, BUCKET) as client:
        for year in TRAIN_YEARS:
            put_source(client, year)
        yield client


def prepare(s3: Any, instance_count: int, prefix: str = PREFIX) -> dict[str, Any]:
    profile = profile_year(s3, profile_event(datasetPrefix=prefix))
    shards = [
        shard_year(s3, shard_event(year, profile["eventCodes"], instanceCount=instance_count, datasetPrefix=prefix))
        for year in TRAIN_YEARS
    ]
    return finalize_dataset(
        s3, {"bucket": BUCKET, "datasetPrefix": prefix, "profile": profile, "shards": shards,
             "instanceCount": instance_count}
    )


@pytest.mark.parametrize("instance_count", [1, 3, 5, 7, 12])
def test_every_sharded_host_gets_equal_rows_under_the_local_rule(s3: Any, instance_count: int) -> None:
    """instanceCount 7 or 12 with 5 years (issue 10 finding 7): every host still gets data, and the same amount."""
    manifest = prepare(s3, instance_count)
    train = manifest["channels"]["train"]
    assert len(train) == instance_count * len(TRAIN_YEARS)  # never fewer objects than instances

    # local mode's ShardedByS3Key, on the real S3 listing: host algo-(i+1) reads keys[i::n]
    listed = list_channel_objects(s3, f"s3://{BUCKET}/{PREFIX}train/")
    records = {o["key"]: o["records"] for o in manifest["objects"]}
    local_rows = [sum(records[o.key] for o in host)
                  for host in assign_objects(listed, instance_count, "ShardedByS3Key")]
    sharded = manifest["hosts"]["ShardedByS3Key"]
    assert [h["rows"] for h in sharded] == local_rows
    assert all(h["objects"] == len(TRAIN_YEARS) for h in sharded)  # one part of every year on every host
    assert min(local_rows) > 0
    assert max(local_rows) - min(local_rows) <= len(TRAIN_YEARS)  # within one row per object
    total = sum(records[key] for key in train)
    assert sum(local_rows) == total
    if instance_count <= 5:
        assert max(local_rows) - min(local_rows) <= 0.01 * total / instance_count
    assert [h["rows"] for h in manifest["hosts"]["FullyReplicated"]] == [total] * instance_count
    record_bytes = manifest["recordBytes"]
    assert all(h["bytes"] == h["rows"] * record_bytes for h in sharded)
    assert manifest["plan"]["instanceCount"] == instance_count


def test_one_object_per_year_would_have_been_unbalanced(s3: Any) -> None:
    """Why the planner exists: the yearly objects of the bundled sample differ several-fold in rows."""
    manifest = prepare(s3, 1)
    per_year = [o["records"] for o in manifest["objects"] if o["channel"] == "train"]
    assert max(per_year) > 3 * min(per_year)


def test_same_seed_same_bytes_and_a_new_seed_new_order(s3: Any) -> None:
    def digests(prefix: str, **overrides: Any) -> dict[str, str]:
        profile = profile_year(s3, profile_event(datasetPrefix=prefix))
        shard = shard_year(s3, shard_event(1983, profile["eventCodes"], instanceCount=4, datasetPrefix=prefix,
                                           **overrides))
        return {key[len(prefix):]: hashlib.sha256(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest()
                for key in shard["keys"]}

    first = digests("datasets/a/")
    assert digests("datasets/b/") == first
    assert list(first) == [*(f"train/1983-00-{part:03d}.data" for part in range(4)), "validation/1983.data"]
    assert digests("datasets/c/", seed=7) != first


def test_too_few_training_rows_for_the_hosts_is_a_clear_error(s3: Any) -> None:
    rows = b"".join(make_row("190", str(i)) for i in range(12))  # 10 train rows after the 90/10 split
    put_source(s3, 1990, rows)
    with pytest.raises(SourceDataError, match=r"1990\.csv \(year 1990\) has only 10 training rows: too few .* "
                                              r"instanceCount=11"):
        shard_year(s3, shard_event(1990, ["190"], instanceCount=11))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)


def test_round_robin_deals_every_row_once_in_shuffled_order() -> None:
    rows = list(range(103))
    parts = deal_round_robin(rows, 5, offset=3)
    assert sorted(r for part in parts for r in part) == rows
    assert [len(p) for p in parts] == [21, 20, 20, 21, 21]  # row r goes to part (r + 3) % 5: 100-102 to 3, 4, 0
    assert all(list(p) == sorted(p) for p in parts)
    assert parts[3][:2] == [0, 5]


def test_key_layout_makes_the_listing_rule_give_each_host_one_part_per_group() -> None:
    keys = [train_part_key("d/", year, group, part) for year in (2013, 1979) for group in (1, 0) for part in range(3)]
    hosts = assigned_objects(keys, 3, "ShardedByS3Key")
    assert [[key.rsplit("-", 1)[1] for key in host] for host in hosts] == [["000.data"] * 4, ["001.data"] * 4,
                                                                           ["002.data"] * 4]
    loads = host_loads([{"key": k, "records": 2, "bytes": 10} for k in keys], 3)
    assert [h["rows"] for h in loads["ShardedByS3Key"]] == [8, 8, 8]
    assert [h["objects"] for h in loads["FullyReplicated"]] == [12, 12, 12]


def test_the_dataset_cache_key_includes_the_plan() -> None:
    def prefix(**raw: Any) -> str:
        return build_config(raw, execution_name="x", bucket="b", resource_prefix="shardlab")["datasetPrefix"]

    assert prefix(instanceCount=5) == prefix() == prefix(instanceCount=5, trainingInstanceType="ml.m5.xlarge")
    assert prefix(instanceCount=4) != prefix(instanceCount=5)
    config = build_config({}, execution_name="x", bucket="b", resource_prefix="shardlab")
    assert dataset_prefix_for({**config, "instanceCount": 6}) != config["datasetPrefix"]
