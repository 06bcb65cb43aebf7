"""Local mode end to end: the synthesized state machine, on the bundled GDELT sample, with nothing left over."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import numpy as np
import pytest
from faults_helpers import events

from lambdas.lambda_common import recordio
from local.linear_model import LinearModel
from local.runner import LocalShardlab

pytestmark = pytest.mark.slow

SAMPLE_YEARS = [1979, 1980, 1981, 1982, 1983]


class Recorder:
    """Listener of the local SageMaker: remembers every status it reported."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, event: dict[str, Any]) -> None:
        self.events.append((kind, dict(event)))

    def statuses(self, kind: str, name: str) -> list[str]:
        return [event["status"] for k, event in self.events if k == kind and event.get("name") == name]


@pytest.fixture(scope="module")
def completed_run(template: dict[str, Any]) -> Any:
    recorder = Recorder()
    with LocalShardlab(template, listener=recorder) as local:
        description = local.run({}, name="e2e-default", timeout_seconds=600)
        sagemaker = boto3.client("sagemaker")
        leftovers = {
            "endpoints": sagemaker.list_endpoints()["Endpoints"],
            "configs": sagemaker.list_endpoint_configs()["EndpointConfigs"],
            "models": sagemaker.list_models()["Models"],
            "training": sagemaker.list_training_jobs()["TrainingJobSummaries"],
        }
        logs = boto3.client("logs")
        leftovers["log_groups"] = [g["logGroupName"] for g in logs.describe_log_groups(
            logGroupNamePrefix="/aws/sagemaker/Endpoints/")["logGroups"]]
        leftovers["training_log_streams"] = [s["logStreamName"] for s in logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs")["logStreams"]]
        cleanup_results = [json.loads(e["taskSucceededEventDetails"]["output"])["Payload"]
                           for e in events(description["executionArn"])
                           if e.get("taskSucceededEventDetails", {}).get("resource") == "invoke"
                           and "deletedLogGroups" in e["taskSucceededEventDetails"]["output"]]
        output = json.loads(description.get("output") or "{}")
        run_prefix = f"runs/{output['summary']['runId']}/" if "summary" in output else ""
        report = json.loads(local.read_object(f"{run_prefix}report.json")) if run_prefix else {}
        jobs = {
            kind: summary["TrainingJobName"]
            for summary in leftovers["training"]
            for kind in ("replicated", "sharded")
            if summary["TrainingJobName"].endswith(kind)
        }
        training = {kind: local.sagemaker.training_report(name) for kind, name in jobs.items()}
        artifacts = {
            kind: LinearModel.from_tar_gz(
                local.read_object(
                    sagemaker.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"].split(
                        "/", 3
                    )[3]
                )
            )
            for kind, name in jobs.items()
        }
        dataset_keys = [
            item["Key"]
            for item in boto3.client("s3").list_objects_v2(Bucket=local.deployment.bucket_name, Prefix="datasets/")[
                "Contents"
            ]
        ]
        test_key = next(key for key in dataset_keys if "/test/" in key)
        test_rows = list(recordio.iter_records(io.BytesIO(local.read_object(test_key))))
        collected = {
            "description": description,
            "output": output,
            "report": report,
            "leftovers": leftovers,
            "cleanup_results": cleanup_results,
            "jobs": jobs,
            "training": training,
            "artifacts": artifacts,
            "dataset_keys": dataset_keys,
            "test_rows": test_rows,
            "recorder": recorder,
        }
    return collected  # after local mode has shut down


def test_execution_succeeds_with_a_verdict(completed_run: dict[str, Any]) -> None:
    assert completed_run["description"]["status"] == "SUCCEEDED", completed_run["description"].get("cause")
    summary = completed_run["output"]["summary"]
    assert "ShardedByS3Key" in summary["verdict"]
    assert summary["testRows"] == len(completed_run["test_rows"]) > 0


def test_dataset_has_one_train_part_per_host_per_year(completed_run: dict[str, Any]) -> None:
    keys = completed_run["dataset_keys"]
    for year in SAMPLE_YEARS:
        assert [key.rsplit("/", 1)[1] for key in keys if f"/train/{year}-" in key] == [
            f"{year}-00-{part:03d}.data" for part in range(5)
        ]
        assert any(key.endswith(f"/validation/{year}.data") for key in keys)
    assert any(key.endswith("/test/1984.data") for key in keys)
    assert any(key.endswith("/manifest.json") for key in keys)


def test_replicated_hosts_saw_every_year_and_sharded_hosts_equal_parts(completed_run: dict[str, Any]) -> None:
    replicated = completed_run["training"]["replicated"]
    sharded = completed_run["training"]["sharded"]
    all_train = sorted(key for key in completed_run["dataset_keys"] if "/train/" in key)
    assert len(replicated.hosts) == len(sharded.hosts) == 5
    for host in replicated.hosts:
        assert sorted(host.keys) == all_train
    sharded_keys = [key for host in sharded.hosts for key in host.keys]
    assert sorted(sharded_keys) == all_train  # covering all years ...
    assert len(set(sharded_keys)) == len(sharded_keys)  # ... each on exactly one host
    # the planner's parts: every sharded host reads one part of every year, rows equal within one per object
    for host in sharded.hosts:
        assert sorted(key.rsplit("/", 1)[1][:4] for key in host.keys) == [str(year) for year in SAMPLE_YEARS]
    rows = [host.rows for host in sharded.hosts]
    assert max(rows) - min(rows) <= len(SAMPLE_YEARS)
    assert all(host.rows == sum(rows) for host in replicated.hosts)
    # the report shows the same per-host loads the local cluster trained on
    reported = completed_run["report"]["hosts"]
    assert [h["rows"] for h in reported["ShardedByS3Key"]] == rows
    assert [h["rows"] for h in reported["FullyReplicated"]] == [host.rows for host in replicated.hosts]


def test_endpoints_reached_in_service_and_were_deleted(completed_run: dict[str, Any]) -> None:
    recorder = completed_run["recorder"]
    for name in completed_run["jobs"].values():
        statuses = recorder.statuses("endpoint.status", name)
        assert statuses[:2] == ["Creating", "InService"], statuses
        assert statuses[-1] == "Deleted"
    leftovers = completed_run["leftovers"]
    assert leftovers["endpoints"] == leftovers["configs"] == leftovers["models"] == []


def test_sagemakers_logs_of_the_run_were_written_and_then_deleted(completed_run: dict[str, Any]) -> None:
    names = sorted(completed_run["jobs"].values())
    [result] = completed_run["cleanup_results"]
    assert sorted(result["deletedLogGroups"]) == [f"/aws/sagemaker/Endpoints/{name}" for name in names]
    hosts = sum(1 for _ in completed_run["training"]["sharded"].hosts) + sum(
        1 for _ in completed_run["training"]["replicated"].hosts)
    assert len(result["deletedLogStreams"]) == hosts
    assert all(s.split(":", 1)[1].split("/")[0] in names for s in result["deletedLogStreams"])
    leftovers = completed_run["leftovers"]
    assert leftovers["log_groups"] == leftovers["training_log_streams"] == []


def test_report_numbers_agree_with_a_direct_computation(completed_run: dict[str, Any]) -> None:
    features = np.array([row for row, _ in completed_run["test_rows"]], dtype=np.float32)
    labels = np.array([label[0] for _, label in completed_run["test_rows"]], dtype=np.float64)
    models = completed_run["report"]["models"]
    for kind, model in completed_run["artifacts"].items():
        predictions = model.predict(features)
        mse = float(np.mean((labels - predictions) ** 2))
        mae = float(np.mean(np.abs(labels - predictions)))
        reported = models[kind]["test"]
        assert reported["mse"] == pytest.approx(mse, rel=1e-4)
        assert reported["mae"] == pytest.approx(mae, rel=1e-4)
    # the naive baseline's training mean came from the label sums Finalize wrote, not from reading the train data
    assert completed_run["report"]["baseline"]["source"].endswith("(label sums from the dataset's manifest.json)")


def test_served_aws_lets_another_process_read_the_run(template: dict[str, Any]) -> None:
    import subprocess
    import sys

    with LocalShardlab(template, serve_aws=True) as local:
        environment = {**local.client_environment(), "PATH": "/usr/bin:/bin"}
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import boto3; print(boto3.client('s3').list_objects_v2("
                "Bucket='gdelt-open-data', Prefix='events/')['KeyCount'])",
            ],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )
    assert child.returncode == 0, child.stderr
    assert int(child.stdout) == 6  # the bundled 1979-1984 sample, seen from another process
