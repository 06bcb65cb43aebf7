"""Lambda entry points: the pipeline's clean-up step and the stack's clean-up guard (custom resource)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import boto3

from lambdas.cleanup.sagemaker_cleanup import (
    RUN_SETTLE_SECONDS,
    CleanupIncompleteError,
    cleanup_run,
    cleanup_stack,
    run_names,
)
from lambdas.lambda_common.contracts import CleanupEvent, CleanupResult, FailureSummary


def run_cleanup(event: dict[str, Any], context: object) -> CleanupResult:
    """`{"names": {"replicated": ..., "sharded": ...}, "sweep": null or config.sweep}` -> what was stopped/deleted
    (with a sweep, every point's resources as well as the run's own names).

    Raises CleanupIncompleteError while an endpoint cannot be deleted yet, or an endpoint/job whose logs are
    to go is still Deleting/Stopping; the state machine retries it.
    """
    return run_cleanup_with(boto3.client("sagemaker"), boto3.client("logs"), event,
                            settle_seconds=RUN_SETTLE_SECONDS)


def run_cleanup_with(sagemaker: Any, logs: Any, event: dict[str, Any], *, settle_seconds: float = 0.0,
                     sleep: Callable[[float], None] = time.sleep) -> CleanupResult:
    request = CleanupEvent.parse(event, error=ValueError)
    report = cleanup_run(sagemaker, logs, run_names(request.names, request.sweep), settle_seconds=settle_seconds,
                         sleep=sleep)
    if report.pending:
        raise CleanupIncompleteError(f"not deletable yet (retrying): {', '.join(report.pending)}")
    result = report.as_dict()
    if request.failure is not None:
        result["failure"] = failure_summary(request.failure)
    return result


# Step Functions caps an execution's Cause at 32,768 characters.
MAX_CAUSE_LENGTH = 32768


def failure_summary(failure: dict[str, Any]) -> FailureSummary:
    """The error and cause the run fails with after its clean-up: the stage, then the step's own error.

    A Fail state may not re-raise a ``States.*`` name (the ASL spec reserves the prefix), and users need the
    failing stage first, so the error is ``<Stage>Failed`` and the cause carries the original error and cause.
    """
    stage = str(failure.get("stage") or "Run")
    raw = failure.get("error")
    caught: dict[str, Any] = raw if isinstance(raw, dict) else {}
    error = str(caught.get("Error") or "Unknown")
    cause = str(caught.get("Cause") or "(no cause given)")
    return FailureSummary(Error=f"{stage}Failed", Cause=f"{error}: {cause}"[:MAX_CAUSE_LENGTH])


def _guard_id() -> str:
    return f"{os.environ['SHARDLAB_PREFIX']}-cleanup-guard"


def on_event(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Provider framework onEvent: nothing to do on Create/Update; Delete starts the clean-up."""
    if event["RequestType"] == "Delete":
        _cleanup_pass()
        return {"PhysicalResourceId": event.get("PhysicalResourceId", _guard_id())}
    return {"PhysicalResourceId": _guard_id()}


def is_complete(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Provider framework isComplete: repeat the (idempotent) pass until nothing of the stack remains."""
    if event["RequestType"] != "Delete":
        return {"IsComplete": True}
    report = _cleanup_pass()
    if report.pending:  # the log says what a timed-out destroy left (README "Clean-up")
        print(f"still pending: {', '.join(report.pending)}")
    return {"IsComplete": not report.pending}


def _cleanup_pass() -> Any:
    return cleanup_stack(
        boto3.client("sagemaker"),
        boto3.client("stepfunctions"),
        boto3.client("logs"),
        prefix=os.environ["SHARDLAB_PREFIX"],
        state_machine_arn=os.environ.get("SHARDLAB_STATE_MACHINE_ARN"),
    )
