"""profile / shard / finalize against moto S3: outputs, notebook semantics, multipart + abort, bad input, caching.

Every call goes through a real boto3 client, so botocore validates each request against the S3 service model.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from lambdas.compare.testdata import sum_labels
from lambdas.dataprep import handler
from lambdas.dataprep.encoding import shuffled_order, split_point
from lambdas.dataprep.errors import (
    DataPreparationError,
    InvalidEventError,
    OutputWriteError,
    SourceDataError,
    TooManyBadRowsError,
)
from lambdas.dataprep.gdelt import ScanStats, scan_rows
from lambdas.dataprep.pipeline import (
    dataset_summary,
    finalize_dataset,
    profile_year,
    shard_summary,
    shard_year,
    statistics_key,
    top_event_codes,
)
from lambdas.dataprep.s3io import MIN_PART_SIZE, S3ObjectWriter
from lambdas.lambda_common.recordio import iter_records

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "gdelt" / "events"
SOURCE_BUCKET = "gdelt-open-data"
BUCKET = "shardlab-test"
PREFIX = "datasets/0123456789abcdef/"
YEARS = range(1979, 1985)
SEED = 1729


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SOURCE_BUCKET)
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="module")
def big_year(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[str]]:
    """A generated year whose train object (> 5 MiB) needs two parts at the minimum part size, and its top codes."""
    sys.path.insert(0, str(ROOT / "data"))
    from scale_up import write_year

    path = tmp_path_factory.mktemp("gdelt") / "1979.csv"
    write_year(path, 56_000, seed=7)
    data = path.read_bytes()
    counts: dict[bytes, int] = {}
    scan_rows(data.splitlines(keepends=True), ScanStats(), None, code_counts=counts)
    return data, top_event_codes(counts, 20)


def put_source(s3: Any, year: int, body: bytes | None = None) -> bytes:
    data = (SAMPLE / f"{year}.csv").read_bytes() if body is None else body
    s3.put_object(Bucket=SOURCE_BUCKET, Key=f"events/{year}.csv", Body=data)
    return data


def profile_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "sourceBucket": SOURCE_BUCKET,
        "sourcePrefix": "events/",
        "year": 1979,
        "topEventCodes": 20,
        "bucket": BUCKET,
        "datasetPrefix": PREFIX,
    }
    return {**event, **overrides}


def shard_event(year: int, codes: list[str], **overrides: Any) -> dict[str, Any]:
    event = {
        "sourceBucket": SOURCE_BUCKET,
        "sourcePrefix": "events/",
        "year": year,
        "role": "test" if year == 1984 else "train",
        "eventCodes": codes,
        "seed": SEED,
        "trainFraction": 0.9,
        "maxBadRowFraction": 0.01,
        "instanceCount": 5,
        "bucket": BUCKET,
        "datasetPrefix": PREFIX,
    }
    return {**event, **overrides}


def train_parts(year: int, count: int = 5) -> list[str]:
    return [f"{PREFIX}train/{year}-00-{part:03d}.data" for part in range(count)]


def output_keys(s3: Any, bucket: str = BUCKET) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def open_uploads(s3: Any) -> list[Any]:
    return s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def read(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def notebook_matrix(raw: bytes, codes: list[str]) -> np.ndarray:
    """The seed notebook's transform_gdelt on raw rows (np.isin for np.in1d; no first row dropped), with the
    one-hot columns reindexed to every selected code: label in column 0, then the 5 + N features."""
    names = {26: "EventCode", 33: "NumArticles", 34: "AvgTone", 39: "Actor1Geo_Lat", 40: "Actor1Geo_Long"}
    names |= {46: "Actor2Geo_Lat", 47: "Actor2Geo_Long"}
    df = pd.read_csv(io.BytesIO(raw), sep="\t", header=None, usecols=list(names))
    df = df.rename(columns=names)
    df = df[
        ["AvgTone", "EventCode", "NumArticles", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long"]
    ]
    df["EventCode"] = df["EventCode"].astype(object)
    df = df[np.isin(df["EventCode"], [int(code) for code in codes])]
    dummies = pd.get_dummies(
        df[
            ~((df["Actor1Geo_Lat"] == 0) & (df["Actor1Geo_Long"] == 0))
            & ~((df["Actor2Geo_Lat"] == 0) & (df["Actor2Geo_Long"] == 0))
        ]
    )
    columns = [
        "AvgTone",
        "NumArticles",
        "Actor1Geo_Lat",
        "Actor1Geo_Long",
        "Actor2Geo_Lat",
        "Actor2Geo_Long",
        *(f"EventCode_{int(code)}" for code in codes),
    ]
    return dummies.reindex(columns=columns, fill_value=False).to_numpy(dtype="float64")


def make_row(code: str = "190", event_id: str = "1", tone: str = "2.5") -> bytes:
    """A minimal valid 57-column historical row with both actors geocoded."""
    fields = [""] * 57
    fields[0], fields[26], fields[33], fields[34] = event_id, code, "3", tone
    fields[39:41] = ["10", "8"]
    fields[46:48] = ["38.8951", "-77.0364"]
    return ("\t".join(fields) + "\n").encode()


def sdk_bytes(matrix: np.ndarray) -> bytes:
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, matrix[:, 1:].astype("float32"), matrix[:, 0].astype("float32"))
    return buffer.getvalue()


# --- the whole dataset, through the Lambda handlers -------------------------------------------------------


def test_handlers_prepare_the_bundled_sample_exactly_as_the_notebook_would(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    raw = {year: put_source(s3, year) for year in YEARS}
    handler._s3.cache_clear()  # the handlers create their client inside this moto context
    try:
        profile = handler.profile(profile_event(), None)
        assert profile["cached"] is False and profile["manifest"] is None
        codes = profile["eventCodes"]
        assert len(codes) == 20 and profile["featureDim"] == 25
        assert codes == sorted(codes, key=int)
        assert list(profile["counts"]) == codes and all(n > 0 for n in profile["counts"].values())

        summaries = [handler.shard(shard_event(year, codes), None) for year in YEARS]
        finalized = handler.finalize(
            {"bucket": BUCKET, "datasetPrefix": PREFIX, "profile": profile, "shards": summaries,
             "instanceCount": 5},
            None,
        )
        again = handler.profile(profile_event(), None)
    finally:
        handler._s3.cache_clear()

    # The handlers return summaries; the statistics, keys and manifest stay in S3.
    shards = [json.loads(read(s3, statistics_key(PREFIX, year, 0))) for year in YEARS]
    assert summaries == [shard_summary(stats) for stats in shards]
    assert summaries[0] == {"year": 1979, "group": 0, "role": "train", "rowsKept": shards[0]["rowsKept"],
                            "objects": 6}
    manifest = json.loads(read(s3, f"{PREFIX}manifest.json"))
    assert finalized == dataset_summary(manifest)
    assert finalized["manifest"] == f"s3://{BUCKET}/{PREFIX}manifest.json" and finalized["featureDim"] == 25
    assert finalized["channels"]["train"]["objects"] == 25 and finalized["channels"]["test"]["objects"] == 1
    assert manifest["shards"] == shards

    for year, stats in zip(YEARS, shards, strict=True):
        expected = notebook_matrix(raw[year], codes)
        assert stats["year"] == year and stats["featureDim"] == 25
        assert stats["rowsRead"] == raw[year].count(b"\n")
        assert stats["rowsKept"] == expected.shape[0]
        assert stats["rowsRead"] == stats["rowsKept"] + sum(stats["rejected"].values())
        assert stats["bytesIn"] == len(raw[year])
        if year == 1984:
            assert stats["keys"] == [f"{PREFIX}test/1984.data"]
            assert read(s3, stats["keys"][0]) == sdk_bytes(expected)  # test year: all rows, file order
        else:
            order = shuffled_order(expected.shape[0], SEED)
            cut = split_point(expected.shape[0], 0.9)
            assert stats["keys"] == [*train_parts(year), f"{PREFIX}validation/{year}.data"]
            # the shuffled train rows, dealt round-robin into 5 parts: each part is the SDK's bytes for its rows
            train = list(order[:cut])
            offset = (year * 12) % 5
            for part, key in enumerate(stats["keys"][:5]):
                assert read(s3, key) == sdk_bytes(expected[train[(part - offset) % 5 :: 5]]), key
            assert read(s3, stats["keys"][5]) == sdk_bytes(expected[list(order[cut:])])
        assert stats["bytesOut"] == sum(len(read(s3, key)) for key in stats["keys"])
        # each object's label sum is exactly the (fsum) sum of the labels its records hold
        assert stats["labelSums"] == {key: sum_labels(io.BytesIO(read(s3, key)), key)[0] for key in stats["keys"]}

    assert manifest["featureDim"] == 25 and manifest["eventCodes"] == codes
    assert manifest["format"] == "shardlab-dataset/2"
    assert manifest["channels"]["train"] == [key for year in range(1979, 1984) for key in train_parts(year)]
    assert manifest["channels"]["test"] == [f"{PREFIX}test/1984.data"]
    assert sum(o["records"] for o in manifest["objects"]) == sum(s["rowsKept"] for s in shards)
    assert {o["key"]: o["labelSum"] for o in manifest["objects"]} == {
        key: total for stats in shards for key, total in stats["labelSums"].items()}
    assert manifest["features"][:6] == [
        "NumArticles",
        "Actor1Geo_Lat",
        "Actor1Geo_Long",
        "Actor2Geo_Lat",
        "Actor2Geo_Long",
        "EventCode_" + codes[0],
    ]
    assert again == {
        "cached": True,
        "eventCodes": codes,
        "counts": profile["counts"],
        "featureDim": 25,
        "manifest": f"s3://{BUCKET}/{PREFIX}manifest.json",
    }


def test_cached_profile_does_not_read_gdelt(s3: Any) -> None:
    put_source(s3, 1979)
    profile = profile_year(s3, profile_event())
    shard = shard_year(s3, shard_event(1979, profile["eventCodes"]))
    finalize_dataset(
        s3, {"bucket": BUCKET, "datasetPrefix": PREFIX, "profile": profile, "shards": [shard], "instanceCount": 5}
    )
    s3.delete_object(Bucket=SOURCE_BUCKET, Key="events/1979.csv")  # a rerun must not need the source
    cached = profile_year(s3, profile_event())
    assert cached["cached"] is True and cached["eventCodes"] == profile["eventCodes"]
    with pytest.raises(DataPreparationError, match="featureDim 25, but topEventCodes=10 needs 15"):
        profile_year(s3, profile_event(topEventCodes=10))
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}manifest.json", Body=b"{not json")
    with pytest.raises(DataPreparationError, match=r"manifest.json is not valid JSON"):
        profile_year(s3, profile_event())


def test_absent_top_code_still_yields_feature_dim_columns(s3: Any) -> None:
    put_source(s3, 1980, b"".join(make_row(code="190", event_id=str(i), tone=str(i % 7)) for i in range(40)))
    stats = shard_year(s3, shard_event(1980, ["010", "043", "190"]))
    assert stats["featureDim"] == 8 and stats["rowsKept"] == 40
    rows = [row for key in stats["keys"] for row in iter_records(io.BytesIO(read(s3, key)))]
    assert len(rows) == 40
    assert all(len(features) == 8 and features[5:] == [0.0, 0.0, 1.0] for features, _label in rows)


# --- multipart upload and abort -------------------------------------------------------------------------


class FailingS3:
    """Delegates to a real client but raises on the n-th call of one operation (a transient S3 failure)."""

    def __init__(self, client: Any, operation: str, fail_on_call: int, error: BaseException | None = None) -> None:
        self._client = client
        self._operation = operation
        self._fail_on_call = fail_on_call
        self._error = error
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            if name == self._operation and self.calls.count(name) == self._fail_on_call:
                raise self._error or ClientError(
                    {"Error": {"Code": "InternalError", "Message": "We encountered an internal error"}}, name
                )
            return method(**kwargs)

        return call


def test_large_output_uses_multipart_and_matches_single_put(s3: Any, big_year: tuple[bytes, list[str]]) -> None:
    data, codes = big_year
    put_source(s3, 1979, data)
    recorder = FailingS3(s3, "none", 0)
    multipart = shard_year(recorder, shard_event(1979, codes, instanceCount=1), part_size=MIN_PART_SIZE)
    single = shard_year(s3, shard_event(1979, codes, instanceCount=1, datasetPrefix="datasets/single/"))
    assert recorder.calls.count("upload_part") == 2  # train: 5 MiB + rest; validation fits one PutObject
    # validation's one PutObject, then the group's statistics
    assert recorder.calls.count("complete_multipart_upload") == 1 and recorder.calls.count("put_object") == 2
    train_key = f"{PREFIX}train/1979-00-000.data"
    assert s3.head_object(Bucket=BUCKET, Key=train_key)["ETag"].endswith('-2"')
    assert multipart["bytesOut"] == single["bytesOut"] > MIN_PART_SIZE
    assert read(s3, train_key) == read(s3, "datasets/single/train/1979-00-000.data")
    assert open_uploads(s3) == []


# put_object 2 is the group's statistics, written after its data objects
@pytest.mark.parametrize(("operation", "fail_on_call"), [("upload_part", 2), ("put_object", 1), ("put_object", 2)])
def test_a_failed_upload_leaves_nothing_of_the_year(
    s3: Any, big_year: tuple[bytes, list[str]], operation: str, fail_on_call: int
) -> None:
    data, codes = big_year
    put_source(s3, 1979, data)
    failing = FailingS3(s3, operation, fail_on_call)
    with pytest.raises(
        OutputWriteError,
        match=f"writing s3://{BUCKET}/{PREFIX}(train/1979-00-000.data|validation/1979.data|shards/1979-00.json) "
        "failed: InternalError",
    ):
        shard_year(failing, shard_event(1979, codes, instanceCount=1), part_size=MIN_PART_SIZE)
    assert output_keys(s3) == []  # put_object failing on validation also removed the finished train object
    assert open_uploads(s3) == []
    if operation == "upload_part":
        assert "abort_multipart_upload" in failing.calls
    else:
        assert failing.calls.count("complete_multipart_upload") == 1 and "delete_object" in failing.calls


@pytest.mark.parametrize(
    ("operation", "fail_on_call"),
    [("create_multipart_upload", 1), ("upload_part", 1), ("upload_part", 2), ("complete_multipart_upload", 1)],
)
def test_writer_aborts_on_any_s3_failure(s3: Any, operation: str, fail_on_call: int) -> None:
    failing = FailingS3(s3, operation, fail_on_call)
    with (
        pytest.raises(OutputWriteError, match=f"writing s3://{BUCKET}/big.data failed: InternalError"),
        S3ObjectWriter(failing, BUCKET, "big.data", part_size=MIN_PART_SIZE) as out,
    ):
        out.write(b"\x02" * (MIN_PART_SIZE + 10))
    assert output_keys(s3) == [] and open_uploads(s3) == []
    assert ("abort_multipart_upload" in failing.calls) == (operation != "create_multipart_upload")


def test_writer_aborts_when_the_caller_fails_mid_object(s3: Any) -> None:
    failing = FailingS3(s3, "none", 0)
    with (
        pytest.raises(RuntimeError, match="encoder broke"),
        S3ObjectWriter(failing, BUCKET, "x.data", part_size=MIN_PART_SIZE) as out,
    ):
        out.write(b"\x01" * (MIN_PART_SIZE + 10))
        raise RuntimeError("encoder broke")
    assert failing.calls == ["create_multipart_upload", "upload_part", "abort_multipart_upload"]
    assert output_keys(s3) == [] and open_uploads(s3) == []


def test_writer_small_object_is_one_put_and_rejects_bad_use(s3: Any) -> None:
    recorder = FailingS3(s3, "none", 0)
    with S3ObjectWriter(recorder, BUCKET, "small.data") as out:
        out.write(b"abc")
        out.write(b"")
    assert recorder.calls == ["put_object"] and read(s3, "small.data") == b"abc"
    with pytest.raises(ValueError, match="already closed"):
        out.write(b"more")
    with pytest.raises(ValueError, match="at least 5242880"):
        S3ObjectWriter(s3, BUCKET, "k", part_size=MIN_PART_SIZE - 1)
    with S3ObjectWriter(s3, BUCKET, "empty.data"):
        pass
    assert read(s3, "empty.data") == b""


# --- bad input: a clear error, nothing partial --------------------------------------------------------


def test_missing_source_object_names_bucket_and_key(s3: Any) -> None:
    with pytest.raises(SourceDataError, match=f"source object s3://{SOURCE_BUCKET}/events/1985.csv does not exist"):
        shard_year(s3, shard_event(1985, ["010"]))
    with pytest.raises(SourceDataError, match=r"cannot read s3://no-such-bucket/events/1979.csv: NoSuchBucket"):
        profile_year(s3, profile_event(sourceBucket="no-such-bucket"))
    assert output_keys(s3) == []


def test_empty_source_file_fails(s3: Any) -> None:
    put_source(s3, 1981, b"")
    with pytest.raises(SourceDataError, match=f"s3://{SOURCE_BUCKET}/events/1981.csv is empty"):
        shard_year(s3, shard_event(1981, ["010"]))
    with pytest.raises(SourceDataError, match=r"1981.csv is empty"):
        profile_year(s3, profile_event(year=1981))
    assert output_keys(s3) == []


@pytest.mark.parametrize("year", [1978, 2999])
def test_years_without_gdelt_files_fail_before_reading(year: int) -> None:
    no_s3 = object()
    with pytest.raises(InvalidEventError, match=f"year: {year} is not a complete GDELT year"):
        shard_year(no_s3, shard_event(year, ["010"]))
    with pytest.raises(InvalidEventError, match=f"year: {year}"):
        profile_year(no_s3, profile_event(year=year))


def test_too_many_bad_rows_fails_naming_key_and_reasons(s3: Any) -> None:
    lines = (SAMPLE / "1979.csv").read_bytes().splitlines(keepends=True)
    put_source(s3, 1979, b"".join(line.replace(b"\t", b",", 30) for line in lines))
    with pytest.raises(
        TooManyBadRowsError, match=r"events/1979.csv: 699 of 699 rows \(100.00%\) are malformed.*wrongColumnCount=699"
    ):
        shard_year(s3, shard_event(1979, ["190"]))
    with pytest.raises(TooManyBadRowsError, match="wrongColumnCount=699"):
        profile_year(s3, profile_event())
    assert output_keys(s3) == []


def test_rows_gdelt_users_meet_are_kept_and_noted(s3: Any) -> None:
    """A year saved with CRLF line ends, with Latin-1 bytes in actor and place names: the same dataset as the
    clean file, with the oddities in the statistics' notes, none held against maxBadRowFraction (0 here)."""
    clean = (SAMPLE / "1983.csv").read_bytes()
    lines = clean.splitlines(keepends=True)
    latin1 = [i for i, line in enumerate(lines) if b"\tNigeria\t" in line][:25]
    odd = [
        (line.replace(b"\tNigeria\t", "\tNigéria\t".encode("latin-1")) if i in latin1 else line)
        .replace(b"\n", b"\r\n")
        for i, line in enumerate(lines)
    ]
    assert len(latin1) == 25
    put_source(s3, 1983, b"".join(odd))
    odd_profile = profile_year(s3, profile_event(year=1983, maxBadRowFraction=0.0))
    odd_stats = shard_year(s3, shard_event(1983, odd_profile["eventCodes"], maxBadRowFraction=0.0))
    put_source(s3, 1983, clean)
    clean_profile = profile_year(s3, profile_event(year=1983, datasetPrefix="datasets/clean/"))
    clean_stats = shard_year(
        s3, shard_event(1983, clean_profile["eventCodes"], maxBadRowFraction=0.0, datasetPrefix="datasets/clean/")
    )
    assert odd_profile["eventCodes"] == clean_profile["eventCodes"] and odd_profile["counts"] == clean_profile["counts"]
    assert odd_stats["notes"] == {"crlfLineEnding": len(lines), "invalidUtf8": 25}
    assert clean_stats["notes"] == {"crlfLineEnding": 0, "invalidUtf8": 0}
    assert odd_stats["rejected"] == clean_stats["rejected"]
    assert odd_stats["rowsKept"] == clean_stats["rowsKept"] > 0
    for odd_key, clean_key in zip(odd_stats["keys"], clean_stats["keys"], strict=True):
        assert read(s3, odd_key) == read(s3, clean_key)


def test_bad_rows_under_the_threshold_are_skipped_and_counted(s3: Any) -> None:
    good = (SAMPLE / "1983.csv").read_bytes()
    lines = good.splitlines(keepends=True)
    lines[10:10] = [b"GLOBALEVENTID\tSQLDATE\n", lines[5].replace(b"\t", b",", 3), b"\xff" + lines[6]]
    put_source(s3, 1983, b"".join(lines))
    stats = shard_year(s3, shard_event(1983, ["173", "190"]))
    assert stats["rowsRead"] == 3694 + 3
    assert {k: v for k, v in stats["rejected"].items() if k in ("headerLine", "wrongColumnCount")} == {
        "headerLine": 1,
        "wrongColumnCount": 1,
    }
    assert stats["notes"]["invalidUtf8"] == 1  # a byte in GLOBALEVENTID, a column the pipeline does not read
    with pytest.raises(TooManyBadRowsError, match=r"2 of 3697 rows \(0.05%\).*maxBadRowFraction=0.0005"):
        shard_year(s3, shard_event(1983, ["173", "190"], maxBadRowFraction=0.0005, datasetPrefix="datasets/strict/"))
    assert not [key for key in output_keys(s3) if key.startswith("datasets/strict/")]


def test_no_kept_rows_or_too_few_to_split_fail(s3: Any) -> None:
    put_source(s3, 1982)
    with pytest.raises(SourceDataError, match="none of 1705 rows passed the filter"):
        shard_year(s3, shard_event(1982, ["9999"]))
    put_source(s3, 1980, make_row(code="190"))
    with pytest.raises(SourceDataError, match=r"kept only 1 rows: too few for a 0.9/0.1 train/validation split"):
        shard_year(s3, shard_event(1980, ["190"]))
    assert output_keys(s3) == []


def test_profile_needs_enough_distinct_codes(s3: Any) -> None:
    put_source(s3, 1979)
    with pytest.raises(
        SourceDataError, match=r"1979.csv \(year 1979\) has only \d+ distinct event codes; topEventCodes=200"
    ):
        profile_year(s3, profile_event(topEventCodes=200))


def test_interrupted_source_stream_is_a_clear_error(s3: Any) -> None:
    put_source(s3, 1979)

    class BrokenBody:
        def __init__(self, body: Any) -> None:
            self._body = body

        def read(self, amount: int) -> bytes:
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")

        def close(self) -> None:
            self._body.close()

    class BrokenStream:
        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def get_object(self, **kwargs: Any) -> Any:
            response = s3.get_object(**kwargs)
            return {**response, "Body": BrokenBody(response["Body"])}

    with pytest.raises(SourceDataError, match=f"reading s3://{SOURCE_BUCKET}/events/1979.csv failed: Read timeout"):
        shard_year(BrokenStream(), shard_event(1979, ["190"]))
    assert output_keys(s3) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "validation"}, "role must be one of 'train', 'test'"),
        ({"eventCodes": ["190", "010"]}, "must be in numeric order"),
        ({"eventCodes": ["010", "010"]}, "duplicates"),
        ({"eventCodes": [10]}, "CAMEO digit strings"),
        ({"eventCodes": []}, "eventCodes must be a list of 1 to 300"),
        ({"trainFraction": 1.0}, "trainFraction must satisfy 0 < x < 1"),
        ({"maxBadRowFraction": 1.5}, "maxBadRowFraction must satisfy 0 <= x < 1"),
        ({"seed": "1729"}, "seed must be an integer"),
            # the input schema's bound (it was 2**63 - 1 here while the schema said 2**32 - 1)
            ({"seed": 2**32}, "seed must be between 0 and 4294967295"),
            ({"instanceCount": 101}, "instanceCount must be between 1 and 100"),
            ({"sourceBucket": "Not_A_Bucket"}, "sourceBucket must be an S3 bucket name"),
            ({"seeds": 1}, r"has unknown key\(s\) 'seeds'"),
        ({"datasetPrefix": "datasets/x"}, "datasetPrefix must be a key prefix ending in '/'"),
        ({"bucket": ""}, "bucket must be a non-empty string"),
        ({"year": "1979"}, "year must be an integer"),
    ],
)
def test_shard_event_validation(overrides: dict[str, Any], message: str) -> None:
    no_s3 = object()  # the event is checked before any S3 request
    with pytest.raises(InvalidEventError, match=message):
        shard_year(no_s3, {**shard_event(1979, ["010", "190"]), **overrides})


def test_missing_event_field_is_named() -> None:
    event = shard_event(1979, ["010"])
    del event["trainFraction"]
    with pytest.raises(InvalidEventError, match=r"event .* is missing 'trainFraction'"):
        shard_year(object(), event)


# --- finalize -------------------------------------------------------------------------------------------


def test_finalize_refuses_incomplete_or_inconsistent_datasets(s3: Any) -> None:
    put_source(s3, 1979)
    profile = profile_year(s3, profile_event())
    shard = shard_year(s3, shard_event(1979, profile["eventCodes"]))
    event = {"bucket": BUCKET, "datasetPrefix": PREFIX, "profile": profile, "shards": [shard], "instanceCount": 5}

    s3.delete_object(Bucket=BUCKET, Key=shard["keys"][-1])
    with pytest.raises(DataPreparationError, match=r"validation/1979.data is not readable .*no manifest is written"):
        finalize_dataset(s3, event)
    s3.put_object(Bucket=BUCKET, Key=shard["keys"][-1], Body=b"\x00" * 145)
    with pytest.raises(DataPreparationError, match="is 145 bytes, not a whole number of 144-byte records"):
        finalize_dataset(s3, event)
    with pytest.raises(InvalidEventError, match="shard for 1979 has featureDim 25, expected 6"):
        finalize_dataset(s3, {**event, "profile": {**profile, "eventCodes": ["190"], "featureDim": 6}})
    with pytest.raises(InvalidEventError, match="year 1979 group 0 appears in more than one shard"):
        finalize_dataset(s3, {**event, "shards": [shard, shard]})
    with pytest.raises(InvalidEventError, match="shards must be a non-empty list"):
        finalize_dataset(s3, {**event, "shards": []})
    with pytest.raises(InvalidEventError, match="each shard must name its year and group"):
        finalize_dataset(s3, {**event, "shards": [{"year": "1979"}]})
    with pytest.raises(DataPreparationError, match=r"statistics .*shards/1980-00.json are not readable .*no manifest"):
        finalize_dataset(s3, {**event, "shards": [shard, {"year": 1980, "group": 0}]})
    with pytest.raises(InvalidEventError, match="5 train objects cannot feed instanceCount=6"):
        finalize_dataset(s3, {**event, "instanceCount": 6})
    statistics = statistics_key(PREFIX, 1979, 0)
    s3.put_object(Bucket=BUCKET, Key=statistics, Body=json.dumps({**shard, "keys": ["elsewhere/train/1979.data"]}))
    with pytest.raises(DataPreparationError, match="is not a channel object"):
        finalize_dataset(s3, event)
    assert f"{PREFIX}manifest.json" not in output_keys(s3)
