"""A sweep end to end in local mode (small scale): every point of the grid trains both ways on the one shared
dataset, is scored by batch transform and compared; the sweep report reads them all; nothing is left. With the
training quota lowered, the pre-flight's concurrency is 1, the state output says why, and no two points' jobs run
at the same time. A point that fails fails the run as `SweepFailed`, and nothing of any point is left."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import boto3
import pytest
from faults_helpers import SMALL_INPUT, assert_dataset_intact, events, leaked, run_config

from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan

pytestmark = pytest.mark.slow

GRID = {"instanceCount": [1, 2], "hyperParameters": {"epochs": ["1", "2"]}}
SWEEP_INPUT = {**{key: value for key, value in SMALL_INPUT.items() if key != "instanceCount"},
               "hyperParameters": {"num_models": "4"}, "sweep": GRID}
TRAINING_QUOTA = "ml.c5.2xlarge for training job usage"  # trainingInstanceType's default
REASON = "AlgorithmError: injected: the sweep point's job ran out of memory"
FAULTS = FaultPlan(training_failures={"*-sweepfail-*-p03-sharded": REASON})


class JobTimeline:
    """Every job status the local SageMaker reports, with this process's clock (the jobs' own timestamps are
    the simulated cluster's, not comparable across jobs)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if kind in ("training.status", "transform.status"):
            with self._lock:
                self.events.append((time.monotonic(), payload["name"], payload["status"]))

    def span(self, names: list[str]) -> tuple[float, float]:
        """From the first status of any of these jobs to the last."""
        times = [at for at, name, _ in self.events if name in names]
        return min(times), max(times)


def _output_of(execution_arn: str, state: str) -> dict[str, Any]:
    for event in events(execution_arn):
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == state:
            return dict(json.loads(details["output"]))
    raise AssertionError(f"{state} never exited")


def _every_name(config: dict[str, Any]) -> list[str]:
    points = config["sweep"]["points"]
    return sorted({*config["names"].values(), *(n for p in points for n in p["config"]["names"].values())})


@pytest.fixture(scope="module")
def runs(template: dict[str, Any]) -> dict[str, Any]:
    timeline = JobTimeline()
    found: dict[str, Any] = {}
    with LocalShardlab(template, control_plane_options={"faults": FAULTS}, listener=timeline) as local:
        sweep = local.run(SWEEP_INPUT, name="sweep", timeout_seconds=600)
        assert sweep["status"] == "SUCCEEDED", (sweep.get("error"), sweep.get("cause", "")[:600])
        config = run_config(sweep["executionArn"])
        sagemaker = boto3.client("sagemaker")
        found["sweep"] = {
            "description": sweep, "config": config,
            "quota check": _output_of(sweep["executionArn"], "Check service quotas")["quotaCheck"]["report"],
            "jobs": {name: sagemaker.describe_training_job(TrainingJobName=name)
                     for point in config["sweep"]["points"] for name in point["config"]["names"].values()},
            "point reports": {p["point"]: json.loads(local.read_object(f"{p['config']['runPrefix']}report.json"))
                              for p in config["sweep"]["points"]},
            "report": json.loads(local.read_object(f"{config['runPrefix']}report.json")),
            "picture": local.read_object(f"{config['runPrefix']}sweep.png"),
            "leaked": leaked(_every_name(config)),
        }
        # The same grid with room for one point's jobs at a time (the largest point needs 2 jobs x 2 instances).
        local.sagemaker.quotas.set(TRAINING_QUOTA, 4)
        timeline.events.clear()
        limited = local.run(SWEEP_INPUT, name="limited", timeout_seconds=600)
        assert limited["status"] == "SUCCEEDED", (limited.get("error"), limited.get("cause", "")[:600])
        config = run_config(limited["executionArn"])
        found["limited"] = {
            "quota check": _output_of(limited["executionArn"], "Check service quotas")["quotaCheck"]["report"],
            "spans": [timeline.span(list(point["config"]["names"].values())) for point in config["sweep"]["points"]],
            "output": json.loads(limited["output"]),
        }
        local.sagemaker.quotas.set(TRAINING_QUOTA, local.sagemaker.quotas.default(TRAINING_QUOTA))
        failed = local.run(SWEEP_INPUT, name="sweepfail", timeout_seconds=600)
        config = run_config(failed["executionArn"])
        found["failed"] = {"description": failed, "config": config, "leaked": leaked(_every_name(config)),
                           "report keys": [key for key in _keys(local, config["runPrefix"]) if "report." in key]}
        assert_dataset_intact(local, config)
    return found


def _keys(local: LocalShardlab, prefix: str) -> list[str]:
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=local.deployment.bucket_name, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_every_point_trains_both_ways_with_its_own_instance_count_and_epochs_on_one_dataset(
    runs: dict[str, Any],
) -> None:
    config, jobs = runs["sweep"]["config"], runs["sweep"]["jobs"]
    points = config["sweep"]["points"]
    assert [(p["instanceCount"], p["hyperParameters"]) for p in points] == [
        (1, {"epochs": "1"}), (1, {"epochs": "2"}), (2, {"epochs": "1"}), (2, {"epochs": "2"})]
    assert config["instanceCount"] == 2 and config["scoring"] == "transform"  # lcm(1, 2): the shared shard plan
    datasets = set()
    for point in points:
        for branch, name in point["config"]["names"].items():
            job = jobs[name]
            assert job["TrainingJobStatus"] == "Completed", name
            assert job["ResourceConfig"]["InstanceCount"] == point["instanceCount"]
            assert job["HyperParameters"]["epochs"] == point["hyperParameters"]["epochs"]
            assert job["HyperParameters"]["num_models"] == "4"  # the run's own hyperparameters too
            assert job["OutputDataConfig"]["S3OutputPath"].endswith(f"{point['config']['runPrefix']}training/")
            datasets |= {channel["DataSource"]["S3DataSource"]["S3Uri"].rsplit("/", 2)[0]
                         for channel in job["InputDataConfig"]}
            assert branch in name
    assert datasets == {f"s3://{config['bucket']}/{config['datasetPrefix'].rstrip('/')}"}


def test_each_point_reports_what_it_trained_with_and_the_sweep_reports_every_point(runs: dict[str, Any]) -> None:
    sweep = runs["sweep"]
    points = {p["point"]: p for p in sweep["config"]["sweep"]["points"]}
    for point_id, report in sweep["point reports"].items():
        assert report["parameters"]["instanceCount"] == points[point_id]["instanceCount"]
        assert report["parameters"]["hyperParameters"]["epochs"] == points[point_id]["hyperParameters"]["epochs"]
        assert report["testData"]["scoring"] == "transform"
        assert report["point"] == point_id  # its metrics' RunId is <runId>/<point>
    report = sweep["report"]
    assert report["kind"] == "sweep"
    assert {row["point"] for row in report["points"]} == set(points)
    summary = json.loads(sweep["description"]["output"])["summary"]
    assert summary["points"] == len(points) and summary["recommendation"] == report["recommendation"]
    assert summary["recommendation"].startswith("On these years")
    assert sweep["picture"].startswith(b"\x89PNG\r\n\x1a\n")


def test_a_sweep_leaves_no_job_running_no_model_and_no_log(runs: dict[str, Any]) -> None:
    assert runs["sweep"]["leaked"] == []


def test_default_local_quotas_run_every_point_at_once(runs: dict[str, Any]) -> None:
    report = runs["sweep"]["quota check"]["sweep"]
    assert report["points"] == 4 and report["concurrency"] == 4 and report["limitedBy"] is None


def test_a_lowered_training_quota_runs_one_point_at_a_time_and_says_so(runs: dict[str, Any]) -> None:
    limited = runs["limited"]
    report = limited["quota check"]["sweep"]
    assert report["concurrency"] == 1 and report["limitedBy"] == TRAINING_QUOTA, report
    assert TRAINING_QUOTA in report["note"]
    assert limited["output"]["summary"]["concurrency"] == 1
    spans = sorted(limited["spans"])
    assert len(spans) == 4
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start > end, spans  # the next point's first job starts after the last one's jobs ended


def test_a_failing_point_fails_the_run_and_leaves_nothing_of_any_point(runs: dict[str, Any]) -> None:
    failed = runs["failed"]
    description = failed["description"]
    assert description["status"] == "FAILED" and description["error"] == "SweepFailed", description
    assert REASON in description["cause"]
    assert failed["leaked"] == []
    # no sweep report (the points that finished before the failure keep theirs, under points/)
    assert [key for key in failed["report keys"] if "/points/" not in key] == []
