"""Any period: yearly (1979-2005), monthly (2006-March 2013), daily (April 2013 on) and 2013's mix of both.

The source files are generated at test time from the bundled real rows (57-column backfile rows; the daily
ones get the 58th column, SOURCEURL, as GDELT's daily exports have), in the real key layout of
``s3://gdelt-open-data/events/``; each year is prepared the way the state machine does it, one shard call per
Map item of the run config.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto_helpers import mocked_s3

from lambdas.dataprep.errors import SourceDataError
from lambdas.dataprep.pipeline import finalize_dataset, profile_year, shard_year
from lambdas.lambda_common.gdelt_sources import group_count, group_keys, latest_complete_year, layout, year_keys
from lambdas.lambda_common.recordio import iter_records
from lambdas.workflow_input.config import build_config

ROOT = Path(__file__).resolve().parents[1]
REAL_ROWS = (ROOT / "data" / "gdelt" / "events" / "1983.csv").read_bytes().splitlines(keepends=True)
SOURCE_BUCKET = "gdelt-open-data"
BUCKET = "shardlab-layouts"
ROWS_PER_OBJECT = 40


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_s3(monkeypatch, SOURCE_BUCKET, BUCKET) as client:
        yield client


def put_year(s3: Any, year: int, rows_per_object: int = ROWS_PER_OBJECT) -> int:
    """Every object of the year, each a different slice of the real rows; returns the rows written."""
    written = 0
    for index, key in enumerate(year_keys("events/", year)):
        start = (index * rows_per_object) % (len(REAL_ROWS) - rows_per_object)
        rows = REAL_ROWS[start : start + rows_per_object]
        if key.endswith(".export.csv"):  # daily layout: 58 columns, the last one SOURCEURL
            rows = [row.rstrip(b"\n") + f"\thttp://example.com/{index}/{i}\n".encode() for i, row in enumerate(rows)]
        s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=b"".join(rows))
        written += len(rows)
    return written


def prepare(s3: Any, train_years: list[int], test_year: int, instance_count: int = 3) -> dict[str, Any]:
    config = build_config({"trainYears": train_years, "testYear": test_year, "instanceCount": instance_count,
                           "topEventCodes": 5},
                          execution_name="layouts", start_time="2026-12-02T11:00:00Z", bucket=BUCKET,
                          resource_prefix="shardlab")
    common = {"sourceBucket": SOURCE_BUCKET, "sourcePrefix": "events/", "bucket": BUCKET,
              "datasetPrefix": config["datasetPrefix"]}
    profile = profile_year(s3, {**common, "year": train_years[0], "topEventCodes": 5})
    shards = [
        shard_year(s3, {**common, **{k: item[k] for k in ("year", "role", "group")},
                        "eventCodes": profile["eventCodes"], "seed": 1729, "trainFraction": 0.9,
                        "maxBadRowFraction": 0.01, "instanceCount": instance_count})
        for item in config["shardYears"]
    ]
    manifest = finalize_dataset(s3, {"bucket": BUCKET, "datasetPrefix": config["datasetPrefix"], "profile": profile,
                                     "shards": shards, "instanceCount": instance_count})
    return {"config": config, "shards": shards, "manifest": manifest}


def test_each_year_maps_to_its_published_objects() -> None:
    assert year_keys("events/", 1979) == ["events/1979.csv"]
    assert year_keys("events/", 2010) == [f"events/2010{m:02d}.csv" for m in range(1, 13)]
    keys_2013 = year_keys("events/", 2013)
    assert keys_2013[:4] == ["events/201301.csv", "events/201302.csv", "events/201303.csv",
                             "events/20130401.export.csv"]
    assert len(keys_2013) == 3 + 275 and keys_2013[-1] == "events/20131231.export.csv"
    assert len(year_keys("events/", 2016)) == 366 and len(year_keys("events/", 2015)) == 365
    assert group_keys("events/", 2015, 1) == [f"events/201502{d:02d}.export.csv" for d in range(1, 29)]
    assert [layout(y) for y in (2005, 2006, 2013, 2014)] == ["yearly", "monthly", "monthly+daily", "daily"]
    assert [group_count(y) for y in (2005, 2006, 2025)] == [1, 12, 12]


def test_the_latest_complete_year_comes_from_the_execution_start() -> None:
    assert latest_complete_year("2026-12-02T11:27:38.123Z") == 2025
    assert latest_complete_year("2027-01-01T00:00:00+00:00") == 2026
    assert latest_complete_year("not a time") == datetime.datetime.now(datetime.UTC).year - 1
    config = build_config({"trainYears": [2024], "testYear": 2025}, execution_name="x",
                          start_time="2026-12-02T11:27:38.123Z", bucket="b", resource_prefix="shardlab")
    assert [(i["year"], i["group"]) for i in config["shardYears"]] == [(2024, g) for g in range(12)] + [
        (2025, g) for g in range(12)]
    with pytest.raises(ValueError, match=r"testYear: 2026 is not a complete GDELT year; .* 1979-2025"):
        build_config({"trainYears": [2024], "testYear": 2026}, execution_name="x",
                     start_time="2026-12-02T11:27:38.123Z", bucket="b", resource_prefix="shardlab")


def test_monthly_daily_and_mixed_years_prepare_with_balanced_parts(s3: Any) -> None:
    rows = {year: put_year(s3, year) for year in (1999, 2010, 2013, 2015)}
    prepared = prepare(s3, [2010, 2013, 2015], 1999)
    shards, manifest = prepared["shards"], prepared["manifest"]
    assert len(shards) == 12 * 3 + 1  # one Map item per month of the monthly/daily years
    for year in (2010, 2013, 2015):
        year_shards = [s for s in shards if s["year"] == year]
        assert sum(s["rowsRead"] for s in year_shards) == rows[year]
        assert sum(s["sourceObjects"] for s in year_shards) == len(year_keys("events/", year))
        assert all(s["rejected"]["wrongColumnCount"] == 0 for s in year_shards)  # 57 and 58 columns both read
    # the profile read the base year's first month only (2010-01)
    assert sum(1 for s in shards if s["year"] == 2010 and s["group"] == 0) == 1
    train = manifest["channels"]["train"]
    assert len(train) == 3 * 12 * 3  # instanceCount parts per group
    assert f"{manifest['datasetPrefix']}train/2015-11-002.data" in train
    assert manifest["channels"]["validation"][:2] == [f"{manifest['datasetPrefix']}validation/2010-00.data",
                                                      f"{manifest['datasetPrefix']}validation/2010-01.data"]
    assert manifest["channels"]["test"] == [f"{manifest['datasetPrefix']}test/1999.data"]
    sharded = [h["rows"] for h in manifest["hosts"]["ShardedByS3Key"]]
    assert min(sharded) > 0 and max(sharded) - min(sharded) <= 36  # within one row per group
    assert all(h["objects"] == 36 for h in manifest["hosts"]["ShardedByS3Key"])
    # every object is whole records of the selected features
    body = s3.get_object(Bucket=BUCKET, Key=train[0])["Body"]
    assert all(len(features) == 10 for features, _label in iter_records(body))


def test_a_daily_test_year_is_one_test_object_per_month(s3: Any) -> None:
    put_year(s3, 1984)
    put_year(s3, 2014, rows_per_object=15)
    manifest = prepare(s3, [1984], 2014, instance_count=2)["manifest"]
    prefix = manifest["datasetPrefix"]
    assert manifest["channels"]["test"] == [f"{prefix}test/2014-{g:02d}.data" for g in range(12)]
    assert manifest["channels"]["train"] == [f"{prefix}train/1984-00-000.data", f"{prefix}train/1984-00-001.data"]


def test_a_missing_daily_file_fails_naming_it_and_writes_nothing(s3: Any) -> None:
    put_year(s3, 1984)
    put_year(s3, 2015)
    s3.delete_object(Bucket=SOURCE_BUCKET, Key="events/20150704.export.csv")
    with pytest.raises(SourceDataError, match=r"source object s3://gdelt-open-data/events/20150704\.export\.csv "
                                              r"does not exist"):
        prepare(s3, [1984], 2015)
    written = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert not [key for key in written if "/2015-06" in key or key.endswith("manifest.json")]


def test_one_run_prepares_at_most_max_shard_items_source_groups() -> None:
    from lambdas.workflow_input.schema import MAX_SHARD_ITEMS
    from lambdas.workflow_input.validators import InvalidExecutionInputError

    def items(train_years: list[int], test_year: int) -> int:
        return len(build_config({"trainYears": train_years, "testYear": test_year}, execution_name="x",
                                start_time="2026-12-02T11:00:00Z", bucket="b",
                                resource_prefix="shardlab")["shardYears"])

    assert items(list(range(1979, 1987)) + list(range(2006, 2021)), 2021) == MAX_SHARD_ITEMS == 200
    with pytest.raises(InvalidExecutionInputError, match=r"are 201 source groups .* at most 200"):
        items(list(range(1979, 1988)) + list(range(2006, 2021)), 2021)
