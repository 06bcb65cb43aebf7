"""Batch transform faults in local mode (`scoring` `transform`): a transform job that fails, is stopped, or
outlives its task's timeout fails the run as `ScoringFailed`, and the existing clean-up leaves no model and no
running transform job (the dataset stays, no report is written); `cdk destroy`'s guard stops running ones."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from faults_helpers import (
    SMALL_INPUT,
    assert_failed_clean,
    entered_states,
    events,
    leaked,
    run_config,
    run_names,
    wait_until,
)
from test_faults_destroy import _delete_event, _destroy

from lambdas.workflow_input import config as workflow_config
from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan

pytestmark = pytest.mark.slow

TRANSFORM_INPUT = {**SMALL_INPUT, "scoring": "transform"}
REASON = "ClientError: injected: the inference container ran out of memory"
# One deployment, runs told apart by execution name (job names start with shardlab-<execution name>-).
FAULTS = FaultPlan(
    transform_failures={"shardlab-fails-*-sharded": REASON},
    slow_transforms={"shardlab-stopped-*-replicated": 30.0, "shardlab-destroyed-*": 120.0},
)


def _cause(description: dict[str, Any]) -> dict[str, Any]:
    cause = description["cause"]
    assert cause.startswith("States.TaskFailed: "), cause
    return dict(json.loads(cause.removeprefix("States.TaskFailed: ")))


def _in_progress(sagemaker: Any, prefix: str, branch: str = "") -> list[str]:
    jobs = sagemaker.list_transform_jobs(NameContains=prefix, StatusEquals="InProgress")["TransformJobSummaries"]
    return [job["TransformJobName"] for job in jobs if job["TransformJobName"].endswith(branch)]


def test_failed_stopped_and_destroyed_transform_jobs_leave_nothing_running(template: dict[str, Any]) -> None:
    with LocalShardlab(template, control_plane_options={"faults": FAULTS}) as local:
        sagemaker = boto3.client("sagemaker")

        # A job that fails: the run fails ScoringFailed with the job's description, after the clean-up.
        failed = local.run(TRANSFORM_INPUT, name="fails")
        config = assert_failed_clean(local, failed, "ScoringFailed")
        assert _cause(failed)["TransformJobStatus"] == "Failed" and _cause(failed)["FailureReason"] == REASON
        assert _cause(failed)["TransformJobName"] == config["names"]["sharded"]
        states = entered_states(failed["executionArn"])
        assert "Compare transform outputs" not in states and "Create sharded endpoint" not in states

        # A job stopped by hand (StopTransformJob) ends Stopped: the same.
        stopped = local.start(TRANSFORM_INPUT, name="stopped")
        wait_until(lambda: _in_progress(sagemaker, "shardlab-stopped-", "-replicated"),
                   what="the replicated transform job to start")
        (name,) = _in_progress(sagemaker, "shardlab-stopped-", "-replicated")
        sagemaker.stop_transform_job(TransformJobName=name)
        description = local.wait(stopped)
        assert_failed_clean(local, description, "ScoringFailed")
        assert _cause(description)["TransformJobStatus"] == "Stopped"

        # cdk destroy while both jobs run: the guard stops the execution and the stack's transform jobs.
        running = local.start(TRANSFORM_INPUT, name="destroyed")
        wait_until(lambda: len(_in_progress(sagemaker, "shardlab-destroyed-")) == 2, timeout=60,
                   what="both transform jobs")
        names = run_names(run_config(running))
        os.environ["SHARDLAB_STATE_MACHINE_ARN"] = local.state_machine_arn  # as the stack sets it
        try:
            _destroy(_delete_event(os.environ["SHARDLAB_PREFIX"], local.state_machine_arn))
        finally:
            del os.environ["SHARDLAB_STATE_MACHINE_ARN"]
        assert local.wait(running)["status"] == "ABORTED"
        assert leaked(names) == []
        assert {sagemaker.describe_transform_job(TransformJobName=n)["TransformJobStatus"] for n in names} == {
            "Stopped"}


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
        assert status["TransformJobStatus"] == "Stopped"  # Step Functions stopped the timed-out task's job
