"""The moto hooks of local mode: createTrainingJob.sync and in-process Lambda tasks.

These run hand-written definitions on moto's real interpreter, so a moto upgrade that moves the hook point or
changes how tasks are evaluated fails here first.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

from local import sfn_hooks
from local.executions import history, wait_for_execution
from local.fake_aws import REGION, arn, role_arn

ROLE = role_arn("sfn")
TRAINING_ARN = "arn:aws:states:::sagemaker:createTrainingJob.sync"


class ScriptedSageMaker:
    """Answers DescribeTrainingJob with a scripted status sequence; records StopTrainingJob."""

    def __init__(self, statuses: dict[str, list[str]]) -> None:
        self.statuses = statuses
        self.stopped: list[str] = []

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        sequence = self.statuses[TrainingJobName]
        status = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        if TrainingJobName in self.stopped:
            status = "Stopped"
        description = {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status}
        if status == "Failed":
            description["FailureReason"] = "ClientError: unknown hyperparameter 'bogus'"
        return description

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.stopped.append(TrainingJobName)
        return {}


def _training_task(name: str, next_state: str | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": TRAINING_ARN,
        "Parameters": {
            "TrainingJobName": name,
            "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        },
    }
    if next_state:
        task["Next"] = next_state
    else:
        task["End"] = True
    return task


def _run(definition: dict[str, Any], payload: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], input=json.dumps(payload or {})
    )
    return wait_for_execution(sfn, execution["executionArn"], timeout_seconds=60), sfn


@pytest.fixture
def moto_sfn():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def test_hook_point_is_where_local_mode_expects_it() -> None:
    # If this fails, moto moved its task factory: local mode cannot run .sync or Lambda tasks until
    # local/sfn_hooks.py follows it.
    assert callable(state_task_factory.state_task_service_for)
    assert sfn_hooks._ORIGINAL_FACTORY is state_task_factory.state_task_service_for
    with sfn_hooks.installed({}):
        assert state_task_factory.state_task_service_for is not sfn_hooks._ORIGINAL_FACTORY
    assert state_task_factory.state_task_service_for is sfn_hooks._ORIGINAL_FACTORY


def test_without_the_hook_moto_cannot_run_training_sync(moto_sfn: None) -> None:
    description, _ = _run({"StartAt": "Train", "States": {"Train": _training_task("job-a")}})
    assert description["status"] == "FAILED"


def test_training_sync_polls_until_completed(moto_sfn: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ScriptedSageMaker({"job-a": ["InProgress", "InProgress", "Completed"]})
    monkeypatch.setattr(sfn_hooks, "boto_client_for", lambda **_: fake)
    with sfn_hooks.installed({}):
        description, _ = _run({"StartAt": "Train", "States": {"Train": _training_task("job-a")}})
    assert description["status"] == "SUCCEEDED", description
    output = json.loads(description["output"])
    assert output == {"TrainingJobName": "job-a", "TrainingJobStatus": "Completed"}
    assert fake.statuses["job-a"] == ["Completed"]  # it really polled through InProgress


def test_failed_job_fails_the_task_with_its_failure_reason(
    moto_sfn: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ScriptedSageMaker({"job-a": ["InProgress", "Failed"]})
    monkeypatch.setattr(sfn_hooks, "boto_client_for", lambda **_: fake)
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                **_training_task("job-a", "Done"),
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}],
            },
            "Done": {"Type": "Succeed"},
            "Caught": {"Type": "Pass", "OutputPath": "$.error", "End": True},
        },
    }
    with sfn_hooks.installed({}):
        description, _ = _run(definition)
    assert description["status"] == "SUCCEEDED"
    caught = json.loads(description["output"])
    assert caught["Error"] == "States.TaskFailed"
    cause = json.loads(caught["Cause"])
    assert cause["FailureReason"] == "ClientError: unknown hyperparameter 'bogus'"


def test_failed_branch_stops_the_sibling_training_job(
    moto_sfn: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ScriptedSageMaker({"job-ok": ["InProgress"], "job-bad": ["InProgress", "Failed"]})
    monkeypatch.setattr(sfn_hooks, "boto_client_for", lambda **_: fake)
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "A", "States": {"A": _training_task("job-ok")}},
                    {"StartAt": "B", "States": {"B": _training_task("job-bad")}},
                ],
            }
        },
    }
    with sfn_hooks.installed({}):
        description, _ = _run(definition)
        assert description["status"] == "FAILED"
        for _ in range(50):  # the abandoned branch notices on its next poll
            if fake.stopped:
                break
            import time

            time.sleep(0.1)
    assert fake.stopped == ["job-ok"]


def test_lambda_task_runs_the_handler_in_process(moto_sfn: None) -> None:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return {"doubled": event["n"] * 2}

    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": arn("lambda", "function:double"),
                    "Payload.$": "$",
                },
                "ResultSelector": {"result.$": "$.Payload"},
                "End": True,
            }
        },
    }
    with sfn_hooks.installed({"double": sfn_hooks.LocalFunction(handler)}):
        description, _ = _run(definition, {"n": 21})
    assert description["status"] == "SUCCEEDED", description
    assert json.loads(description["output"]) == {"result": {"doubled": 42}}
    assert seen == [{"n": 21}]


def test_lambda_exception_is_a_catchable_function_error(moto_sfn: None) -> None:
    def handler(event: dict[str, Any], context: Any) -> None:
        raise ValueError("year 1978 is not a published GDELT yearly file")

    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "check", "Payload.$": "$"},
                "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Failed"}],
                "End": True,
            },
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    with sfn_hooks.installed({"check": sfn_hooks.LocalFunction(handler)}):
        description, sfn = _run(definition)
        events = history(sfn, description["executionArn"])
    assert description["status"] == "FAILED"
    assert description["error"] == "ValueError"
    assert (
        json.loads(description["cause"])["errorMessage"] == "year 1978 is not a published GDELT yearly file"
    )
    assert any(event["type"] == "TaskFailed" for event in events)


def test_sagemaker_api_error_is_catchable_as_step_functions_names_it(moto_sfn: None) -> None:
    definition = {
        "StartAt": "Create endpoint",
        "States": {
            "Create endpoint": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createEndpoint",
                "Parameters": {"EndpointName": "ep", "EndpointConfigName": "no-such-config"},
                "Retry": [
                    {
                        "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 1,
                    }
                ],
                "Catch": [
                    {
                        "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                        "ResultPath": "$.error",
                        "Next": "Caught",
                    }
                ],
                "End": True,
            },
            "Caught": {"Type": "Pass", "OutputPath": "$.error", "End": True},
        },
    }
    with sfn_hooks.installed({}):
        description, sfn = _run(definition)
        events = history(sfn, description["executionArn"])
    assert description["status"] == "SUCCEEDED", description
    caught = json.loads(description["output"])
    assert caught["Error"] == "SageMaker.AmazonSageMakerException"
    assert "Service: AmazonSageMaker" in caught["Cause"]
    assert "no-such-config" in caught["Cause"] or "Could not find" in caught["Cause"]
    assert sum(event["type"] == "TaskScheduled" for event in events) == 2  # one retry


def test_a_failed_map_iteration_stops_the_other_iterations_and_their_jobs(
    moto_sfn: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step Functions stops a Map's running iterations when one fails (moto alone lets them run on): each
    running job is stopped and no iteration reaches its next state, while the Map's Catch goes on."""
    fake = ScriptedSageMaker({"job-ok-1": ["InProgress"], "job-bad": ["InProgress", "Failed"],
                              "job-ok-2": ["InProgress"]})
    monkeypatch.setattr(sfn_hooks, "boto_client_for", lambda **_: fake)
    train = _training_task("placeholder", "After training")
    train["Parameters"]["TrainingJobName.$"] = "$.job"
    del train["Parameters"]["TrainingJobName"]
    definition = {
        "StartAt": "Points",
        "States": {
            "Points": {
                "Type": "Map", "ItemsPath": "$.jobs", "ItemSelector": {"job.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Train",
                                  "States": {"Train": train, "After training": {"Type": "Pass", "End": True}}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up"}],
                "End": True,
            },
            # long enough for a left-running iteration to be seen going on
            "Clean up": {"Type": "Wait", "Seconds": 2, "End": True},
        },
    }
    with sfn_hooks.installed({}):
        description, sfn = _run(definition, {"jobs": ["job-ok-1", "job-bad", "job-ok-2"]})
        entered = [e["stateEnteredEventDetails"]["name"] for e in history(sfn, description["executionArn"])
                   if "stateEnteredEventDetails" in e]
    assert description["status"] == "SUCCEEDED" and "Clean up" in entered
    # each running iteration stops its own job (one state object serves all of them)
    assert sorted(fake.stopped) == ["job-ok-1", "job-ok-2"]
    assert "After training" not in entered
