"""Data-preparation faults in local mode: one year's shard fails, the run fails with the Lambda's error and a
cause naming the object, nothing else starts (no SageMaker request at all), and no partial object is left."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from faults_helpers import SMALL_INPUT, RequestCounter, keys_under, run_config, task_failures

from local.runner import SAMPLE_DIR, LocalShardlab

pytestmark = pytest.mark.slow


def _sample(tmp_path: Path, years: list[int]) -> Path:
    for year in years:
        shutil.copy(SAMPLE_DIR / f"{year}.csv", tmp_path / f"{year}.csv")
    return tmp_path


def _assert_shard_failure_stopped_everything(local: LocalShardlab, counter: RequestCounter,
                                             description: dict[str, Any], error: str, year: int) -> str:
    assert description["status"] == "FAILED", description
    assert description["error"] == error
    failures = task_failures(description["executionArn"])
    # Only shard tasks failed: the year's own error first. (moto may add a States.Runtime for a sibling
    # iteration it aborts mid-task; on AWS those iterations are simply aborted.)
    assert {state for state, *_ in failures} == {"Shard one year"}, failures
    assert failures[0][1] == error, failures
    payload = json.loads(description["cause"])
    assert payload["errorType"] == error
    assert counter.operations == []  # no training job, model or endpoint was even requested
    config = run_config(description["executionArn"])
    dataset = keys_under(local, config["datasetPrefix"])
    assert not any(key.endswith("manifest.json") for key in dataset)  # the dataset is not marked complete
    assert not any(f"/{year}.data" in key for key in dataset), dataset  # the failed year left nothing
    assert keys_under(local, config["runPrefix"]) == []
    # The source data is untouched.
    assert local.read_object(f"events/{SMALL_INPUT['trainYears'][0]}.csv", bucket="gdelt-open-data")
    return str(payload["errorMessage"])


def test_a_missing_yearly_file_fails_its_shard_and_nothing_else_starts(
    template: dict[str, Any], tmp_path: Path
) -> None:
    with LocalShardlab(template, sample_dir=_sample(tmp_path, [1979, 1981])) as local:
        counter = RequestCounter(local)
        description = local.run(SMALL_INPUT)  # trains on 1979 and 1980; 1980.csv is not there
        message = _assert_shard_failure_stopped_everything(local, counter, description, "SourceDataError", 1980)
        assert message == "source object s3://gdelt-open-data/events/1980.csv does not exist"


def test_too_many_bad_rows_fail_their_shard_and_nothing_else_starts(template: dict[str, Any], tmp_path: Path) -> None:
    sample = _sample(tmp_path, [1979, 1981])
    lines = (SAMPLE_DIR / "1980.csv").read_text().splitlines(keepends=True)
    # Every tenth row loses its last columns: 10% malformed, over the default 1% tolerance.
    damaged = [line.split("\t", 20)[0] + "\n" if i % 10 == 0 else line for i, line in enumerate(lines)]
    (sample / "1980.csv").write_text("".join(damaged))
    with LocalShardlab(template, sample_dir=sample) as local:
        counter = RequestCounter(local)
        description = local.run(SMALL_INPUT)
        message = _assert_shard_failure_stopped_everything(local, counter, description, "TooManyBadRowsError", 1980)
        assert "events/1980.csv" in message and "maxBadRowFraction=0.01" in message
