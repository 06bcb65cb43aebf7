"""Hosting and comparison faults in local mode: the run fails naming the stage and the underlying message, and
its endpoints, endpoint configs and models are deleted anyway (the dataset stays, no report is written)."""

from __future__ import annotations

from typing import Any

import pytest
from faults_helpers import (
    SMALL_INPUT,
    assert_failed_clean,
    entered_states,
    fast_retries,
    task_failures,
)

from lambdas.workflow_input import config as workflow_config
from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan

pytestmark = pytest.mark.slow


def test_a_failed_endpoint_fails_the_run_and_both_endpoints_are_deleted(template: dict[str, Any]) -> None:
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    faults = FaultPlan(endpoint_failures={"*-sharded": reason})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(SMALL_INPUT)
        assert_failed_clean(local, description, "HostingFailed")
        assert description["cause"] == f"EndpointFailed: {reason}"
        assert "Compare endpoints" not in entered_states(description["executionArn"])


def test_an_endpoint_not_in_service_within_the_poll_bound_fails_the_run(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3 s of waiting instead of an hour: the poll schedule (config.endpointPollSchedule) is derived from it.
    monkeypatch.setattr(workflow_config, "ENDPOINT_WAIT_SECONDS", 3)
    faults = FaultPlan(slow_endpoints={"*-replicated": 15.0})  # well past the 3 polls, even on a busy machine
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local, fast_retries():
        description = local.run(SMALL_INPUT)
        config = assert_failed_clean(local, description, "HostingFailed")
        assert config["endpointPollSchedule"] == [1, 1, 1] and config["maxEndpointPolls"] == 2
        assert description["cause"].startswith("EndpointTimeout: The endpoint was not InService after")
        # SageMaker refuses to delete a Creating endpoint: the clean-up step retried until it could.
        pending = [f for f in task_failures(description["executionArn"])
                   if f[0] == "Clean up after failure" and f[1] == "CleanupIncompleteError"]
        assert pending and "(Creating)" in pending[0][2]


def test_a_failing_comparison_still_tears_the_endpoints_down(template: dict[str, Any]) -> None:
    faults = FaultPlan(invocation_failures={"*-sharded": "injected: the inference container crashed"})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(SMALL_INPUT)
        config = assert_failed_clean(local, description, "ComparisonFailed")
        cause = description["cause"]
        assert cause.startswith("ScoringError: ")
        assert config["names"]["sharded"] in cause
        assert "ModelError" in cause and "injected: the inference container crashed" in cause
