"""Batch transform faults in local mode (`scoring` `transform`): a transform job that fails, is stopped, or
outlives its task's timeout fails the run as `ScoringFailed`, and the existing clean-up leaves no model and no
running transform job (the dataset stays, no report is written)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from faults_helpers import SMALL_INPUT, assert_failed_clean, entered_states, events, run_config, wait_until

from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan
from workflow_input import config as workflow_config

pytestmark = pytest.mark.slow

TRANSFORM_INPUT = {**SMALL_INPUT, "scoring": "transform"}


def test_a_failed_transform_job_fails_the_run_and_its_models_are_deleted(template: dict[str, Any]) -> None:
    reason = "ClientError: injected: the inference container ran out of memory"
    faults = FaultPlan(transform_failures={"*-sharded": reason})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(TRANSFORM_INPUT)
        config = assert_failed_clean(local, description, "ScoringFailed")
        assert description["cause"].startswith("States.TaskFailed: ")
        failed = json.loads(description["cause"].removeprefix("States.TaskFailed: "))
        assert failed["TransformJobStatus"] == "Failed" and failed["FailureReason"] == reason
        assert failed["TransformJobName"] == config["names"]["sharded"]
        states = entered_states(description["executionArn"])
        assert "Compare transform outputs" not in states and "Create sharded endpoint" not in states


def test_a_stopped_transform_job_fails_the_run(template: dict[str, Any]) -> None:
    faults = FaultPlan(slow_transforms={"*-replicated": 30.0})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        arn = local.start(TRANSFORM_INPUT)
        sagemaker = boto3.client("sagemaker")

        def running() -> bool:
            jobs = sagemaker.list_transform_jobs(StatusEquals="InProgress")["TransformJobSummaries"]
            return any(job["TransformJobName"].endswith("-replicated") for job in jobs)

        wait_until(running, what="the replicated transform job to start")
        name = run_config(arn)["names"]["replicated"]
        sagemaker.stop_transform_job(TransformJobName=name)
        description = local.wait(arn)
        assert_failed_clean(local, description, "ScoringFailed")
        assert json.loads(description["cause"].removeprefix("States.TaskFailed: "))["TransformJobStatus"] == "Stopped"


def test_a_transform_job_past_its_timeout_is_stopped_and_the_run_fails(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow_config, "TRANSFORM_TIMEOUT_SECONDS", 2)
    faults = FaultPlan(slow_transforms={"*-sharded": 60.0})  # far past the 2 s timeout, even on a busy machine
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(TRANSFORM_INPUT)
        config = assert_failed_clean(local, description, "ScoringFailed")
        assert config["transformTimeoutSeconds"] == 2
        assert description["cause"].startswith("States.Timeout")
        timed_out = [e["taskTimedOutEventDetails"] for e in events(description["executionArn"])
                     if "taskTimedOutEventDetails" in e]
        assert [(t["resource"], t["error"]) for t in timed_out] == [("createTransformJob.sync", "States.Timeout")]
        status = boto3.client("sagemaker").describe_transform_job(TransformJobName=config["names"]["sharded"])
        assert status["TransformJobStatus"] == "Stopped"
