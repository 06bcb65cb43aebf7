"""What the fault tests and the soak share: a small run, the run's config from its history, leak checks."""

from __future__ import annotations

import json
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.executions import history
from local.runner import LocalShardlab

# Small enough for a few seconds per run on 2 cores.
SMALL_INPUT: dict[str, Any] = {
    "trainYears": [1979, 1980],
    "testYear": 1981,
    "instanceCount": 2,
    "hyperParameters": {"epochs": "1", "num_models": "4"},
}
RUNNING_JOB_STATES = ("InProgress", "Stopping")


class RequestCounter:
    """Wraps the local SageMaker's ``handle``: every control-plane request the server answers is counted."""

    def __init__(self, local: LocalShardlab) -> None:
        self.operations: list[str] = []
        self._lock = threading.Lock()
        original = local.sagemaker.handle

        def counting(operation: str, params: Any) -> dict[str, Any]:
            with self._lock:
                self.operations.append(operation)
            return original(operation, params)

        local.sagemaker.handle = counting  # type: ignore[method-assign]


def events(execution_arn: str) -> list[dict[str, Any]]:
    return history(boto3.client("stepfunctions"), execution_arn)


def entered_states(execution_arn: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events(execution_arn) if "stateEnteredEventDetails" in e]


def task_failures(execution_arn: str) -> list[tuple[str, str, str]]:
    """(state name, error, cause) of every failed task attempt, in order.

    Parallel branches interleave in the history, so each failure is traced back through ``previousEventId``
    to the state it belongs to.
    """
    history = events(execution_arn)
    by_id = {event["id"]: event for event in history}

    def state_of(event: dict[str, Any]) -> str:
        while event is not None and "stateEnteredEventDetails" not in event:
            event = by_id.get(event.get("previousEventId"))
        return str(event["stateEnteredEventDetails"]["name"]) if event is not None else ""

    found = []
    for event in history:
        for key in ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails"):
            if key in event:
                details = event[key]
                found.append((state_of(event), details.get("error", ""), details.get("cause", "")))
    return found


def run_config(execution_arn: str) -> dict[str, Any]:
    """The validated config the first state produced (its names, prefixes and tags)."""
    for event in events(execution_arn):
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails")
        if details:
            output = json.loads(details["output"])
            payload = output.get("Payload", output)
            if isinstance(payload, dict) and "names" in payload and "runPrefix" in payload:
                return payload
    raise AssertionError(f"execution {execution_arn} has no validated config in its history")


def wait_until(predicate: Any, *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def job_status(name: str) -> str | None:
    try:
        return str(boto3.client("sagemaker").describe_training_job(TrainingJobName=name)["TrainingJobStatus"])
    except ClientError:
        return None


def leaked(names: list[str], *, settle_seconds: float = 30.0) -> list[str]:
    """Everything of these names that still runs or exists, as listed through boto3 (empty = nothing leaked).

    A Deleting endpoint or a Stopping job is on its way out; give them ``settle_seconds`` to finish."""
    deadline = time.monotonic() + settle_seconds
    while True:
        found = _listed(names)
        if not any("(Deleting)" in item or "(Stopping)" in item for item in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _listed(names: list[str]) -> list[str]:
    sagemaker = boto3.client("sagemaker")
    found: list[str] = []
    for name in names:
        for status in RUNNING_JOB_STATES:
            jobs = sagemaker.list_training_jobs(NameContains=name, StatusEquals=status)["TrainingJobSummaries"]
            found += [f"training-job/{j['TrainingJobName']} ({status})" for j in jobs]
            transforms = sagemaker.list_transform_jobs(NameContains=name, StatusEquals=status)
            found += [f"transform-job/{j['TransformJobName']} ({status})" for j in transforms["TransformJobSummaries"]]
        found += [f"endpoint/{e['EndpointName']} ({e['EndpointStatus']})"
                  for e in sagemaker.list_endpoints(NameContains=name)["Endpoints"]]
        found += [f"endpoint-config/{c['EndpointConfigName']}"
                  for c in sagemaker.list_endpoint_configs(NameContains=name)["EndpointConfigs"]]
        found += [f"model/{m['ModelName']}" for m in sagemaker.list_models(NameContains=name)["Models"]]
    return found + sagemaker_logs_of(names)


def sagemaker_logs_of(names: list[str]) -> list[str]:
    """SageMaker's own logs of these runs: each endpoint's group and each job's streams in the shared group."""
    logs = boto3.client("logs")
    found: list[str] = []
    for name in names:
        group = f"/aws/sagemaker/Endpoints/{name}"
        found += [f"log-group/{g['logGroupName']}" for g in logs.describe_log_groups(
            logGroupNamePrefix=group)["logGroups"] if g["logGroupName"] == group]
        try:
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                logStreamNamePrefix=f"{name}/")["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            streams = []
        found += [f"log-stream//aws/sagemaker/TrainingJobs:{s['logStreamName']}" for s in streams]
    return found


def run_names(config: dict[str, Any]) -> list[str]:
    return sorted(config["names"].values())


def keys_under(local: LocalShardlab, prefix: str) -> list[str]:
    s3 = boto3.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=local.deployment.bucket_name, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def assert_dataset_intact(local: LocalShardlab, config: dict[str, Any]) -> None:
    """The prepared dataset is still complete: its manifest parses and every object it lists is readable."""
    manifest = json.loads(local.read_object(f"{config['datasetPrefix']}manifest.json"))
    for item in manifest["objects"]:
        assert len(local.read_object(item["key"])) == item["bytes"], item


def assert_no_report(local: LocalShardlab, config: dict[str, Any]) -> None:
    reports = [key for key in keys_under(local, config["runPrefix"]) if "/report." in key]
    assert reports == [], reports


@contextmanager
def fast_retries(factor: float = 60.0) -> Iterator[None]:
    """Retry intervals of moto's interpreter run ``factor`` times faster (only its retrier sleeps less).

    The clean-up retries every 60 s while an endpoint is still Creating; the logic under test is the same."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    original = retrier_decl.time
    retrier_decl.time = types.SimpleNamespace(sleep=lambda seconds: time.sleep(seconds / factor))  # type: ignore[assignment]
    try:
        yield
    finally:
        retrier_decl.time = original


def assert_failed_clean(local: LocalShardlab, description: dict[str, Any], error: str) -> dict[str, Any]:
    """The run failed with ``error``, left no SageMaker resource, kept its dataset and wrote no report."""
    assert description["status"] == "FAILED", description
    assert description["error"] == error, description
    config = run_config(description["executionArn"])
    assert leaked(run_names(config)) == []
    assert_dataset_intact(local, config)
    assert_no_report(local, config)
    return config
