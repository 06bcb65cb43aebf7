"""Training faults in local mode: each run ends FAILED naming the stage and the job's own message, with
nothing left running, the prepared dataset intact and no report written."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from faults_helpers import (
    SMALL_INPUT,
    assert_failed_clean,
    entered_states,
    job_status,
    keys_under,
    leaked,
    run_config,
    run_names,
    task_failures,
    wait_until,
)

from lambdas.cleanup.handler import run_cleanup
from lambdas.cleanup.sagemaker_cleanup import CleanupIncompleteError
from local.linear_learner import ClusterModel
from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan

pytestmark = pytest.mark.slow


def test_invalid_hyperparameter_value_fails_both_jobs_with_the_algorithm_message(template: dict[str, Any]) -> None:
    with LocalShardlab(template) as local:
        description = local.run({**SMALL_INPUT, "hyperParameters": {"epochs": "1", "loss": "hinge_loss"}})
        config = assert_failed_clean(local, description, "TrainingFailed")
        assert description["cause"].startswith("States.TaskFailed: ")
        assert "loss='hinge_loss' is not valid for predictor_type 'regressor'" in description["cause"]
        assert {job_status(name) for name in run_names(config)} == {"Failed"}
        assert "Clean up after failure" in entered_states(description["executionArn"])


def test_one_branch_fails_while_the_other_runs_and_the_other_job_is_stopped(template: dict[str, Any]) -> None:
    faults = FaultPlan(
        training_failures={"*-sharded": "ClientError: Unable to initialize the algorithm (injected)"},
        slow_training={"*-replicated": 60.0},  # still Starting when its sibling fails
    )
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(SMALL_INPUT)
        config = assert_failed_clean(local, description, "TrainingFailed")
        assert "Unable to initialize the algorithm (injected)" in description["cause"]
        assert job_status(config["names"]["sharded"]) == "Failed"
        assert job_status(config["names"]["replicated"]) == "Stopped"  # Step Functions stopped the abandoned job
        artifacts = keys_under(local, f"{config['runPrefix']}training/{config['names']['replicated']}/")
        assert artifacts == []


def test_a_job_stopped_by_its_stopping_condition_fails_the_run(template: dict[str, Any]) -> None:
    slow_cluster = ClusterModel(setup_seconds=600.0)  # simulated: longer than the 60 s MaxRuntimeInSeconds
    with LocalShardlab(template, control_plane_options={"cluster": slow_cluster}) as local:
        description = local.run({**SMALL_INPUT, "maxRuntimeInSeconds": 60})
        config = assert_failed_clean(local, description, "TrainingFailed")
        cause = description["cause"]
        assert cause.startswith("States.TaskFailed: ")
        job = json.loads(cause.split(": ", 1)[1])
        assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "MaxRuntimeExceeded"
        assert "exceeded MaxRuntimeInSeconds (60s)" in cause
        assert {job_status(name) for name in run_names(config)} == {"Stopped"}


def test_spot_capacity_unavailable_ends_at_max_wait_and_fails_the_run(template: dict[str, Any]) -> None:
    faults = FaultPlan(spot_capacity_unavailable=("*",))
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run({**SMALL_INPUT, "useSpotInstances": True, "maxRuntimeInSeconds": 600,
                                 "maxWaitTimeInSeconds": 900})
        config = assert_failed_clean(local, description, "TrainingFailed")
        job = json.loads(description["cause"].split(": ", 1)[1])
        assert job["EnableManagedSpotTraining"] is True
        assert job["SecondaryStatus"] == "MaxWaitTimeExceeded"
        assert "waiting for spot capacity" in description["cause"]
        assert "Insufficient capacity" in description["cause"]
        assert {job_status(name) for name in run_names(config)} == {"Stopped"}


def test_throttled_create_calls_are_retried_with_backoff_and_the_run_succeeds(template: dict[str, Any]) -> None:
    faults = FaultPlan(throttle={"CreateTrainingJob": 1, "CreateEndpoint": 1, "DescribeEndpoint": 1})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(SMALL_INPUT)
        assert description["status"] == "SUCCEEDED", description
        failures = task_failures(description["executionArn"])
        throttled = {state for state, error, cause in failures
                     if error == "SageMaker.AmazonSageMakerException" and "ThrottlingException" in cause}
        assert len(failures) == 3, failures
        assert len(throttled) == 2 and any(s.startswith("Train ") for s in throttled), failures
        assert any(s.startswith("Create ") and s.endswith(" endpoint") for s in throttled), failures
        # The AWS SDK integration (DescribeEndpoint) names the same throttling SageMaker.SageMakerException.
        assert [error for state, error, _ in failures if state.startswith("Describe ")] == [
            "SageMaker.SageMakerException"], failures
        config = run_config(description["executionArn"])
        assert leaked(run_names(config)) == []
        report = json.loads(local.read_object(f"{config['runPrefix']}report.json"))
        assert set(report["models"]) == {"replicated", "sharded"}


def test_stop_execution_mid_training_stops_the_jobs_and_runs_no_catch(template: dict[str, Any]) -> None:
    faults = FaultPlan(slow_training={"*": 60.0})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        arn = local.start(SMALL_INPUT)
        sagemaker = boto3.client("sagemaker")
        wait_until(lambda: len(sagemaker.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]) == 2,
                   timeout=60, what="both training jobs in progress")
        local.stop(arn, error="UserStopped", cause="stopped from the console")
        description = local.wait(arn)
        assert description["status"] == "ABORTED"
        config = run_config(arn)
        # Step Functions stops the job of an abandoned .sync task; no Catch (and so no clean-up step) runs.
        wait_until(lambda: {job_status(n) for n in run_names(config)} == {"Stopped"}, what="jobs stopped")
        assert "Clean up after failure" not in entered_states(arn)
        assert leaked(run_names(config)) == []


def test_stop_execution_mid_hosting_is_cleaned_up_by_the_run_clean_up_function(template: dict[str, Any]) -> None:
    """What StopExecution leaves once endpoints exist goes with the documented follow-up: the run's clean-up
    Lambda invoked with the names from the "Validate input" output (retried while an endpoint is Creating)."""
    faults = FaultPlan(slow_endpoints={"*": 3.0})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        arn = local.start(SMALL_INPUT)
        sagemaker = boto3.client("sagemaker")
        wait_until(lambda: len(sagemaker.list_endpoints(StatusEquals="Creating")["Endpoints"]) == 2,
                   timeout=60, what="both endpoints creating")
        local.stop(arn, error="UserStopped", cause="stopped from the console")
        assert local.wait(arn)["status"] == "ABORTED"
        config = run_config(arn)
        # No Catch ran: the endpoints (still Creating), their configs and models outlive the execution.
        endpoints = sorted(e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"])
        assert endpoints == run_names(config)
        attempts = 0
        while True:
            attempts += 1
            try:
                report = run_cleanup({"names": config["names"]}, None)
                break
            except CleanupIncompleteError:  # SageMaker refuses to delete a Creating endpoint: wait, retry
                assert attempts < 300
                time.sleep(0.1)
        # Each pass deletes what it can (an earlier, incomplete pass may already have deleted one endpoint).
        assert set(report["deletedEndpoints"]) <= set(run_names(config))
        assert leaked(run_names(config)) == []
