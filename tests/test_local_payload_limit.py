"""Local mode fails a run whose state payload crosses Step Functions' 256 KiB as AWS does: States.DataLimitExceeded
with AWS's cause, not caught by States.ALL, measured as compact UTF-8 JSON (local/payload_limit.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import payload_limit, sfn_hooks
from local.executions import wait_for_execution
from local.fake_aws import REGION, role_arn

FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:payload"
LIMIT = payload_limit.PAYLOAD_LIMIT_BYTES


def padded(size: int) -> dict[str, str]:
    """A JSON object of exactly ``size`` bytes (compact), in multi-byte characters: UTF-8 bytes count."""
    frame = len(json.dumps({"pad": ""}, separators=(",", ":")))
    return {"pad": "é" * ((size - frame) // 2) + "x" * ((size - frame) % 2)}


def definition(*, catch: bool) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FUNCTION, "Payload.$": "$"},
        "ResultSelector": {"result.$": "$.Payload"}, "End": True,
    }
    if catch:
        task["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
        task.pop("End")
        task["Next"] = "Done"
    return {"StartAt": "Big result", "States": {
        "Big result": task,
        "Caught": {"Type": "Pass", "End": True},
        "Done": {"Type": "Pass", "End": True},
    }} if catch else {"StartAt": "Big result", "States": {"Big result": task}}


def run(states: dict[str, Any], execution_input: dict[str, Any], result_size: int) -> dict[str, Any]:
    def handler(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return padded(result_size)

    with (mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
          sfn_hooks.installed({"payload": sfn_hooks.LocalFunction(handler)})):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name="payload", definition=json.dumps(states),
                                       roleArn=role_arn("sfn"))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))["executionArn"]
        return wait_for_execution(sfn, execution, timeout_seconds=60)


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def test_a_result_over_the_limit_fails_the_run_and_states_all_does_not_catch_it() -> None:
    description = run(definition(catch=True), {}, LIMIT)  # the task result wraps it in Payload: over
    assert description["status"] == "FAILED"
    assert description["error"] == "States.DataLimitExceeded"
    # AWS names the state, or for a connector's own result the integration ('aws-sdk:cloudformation')
    assert re.fullmatch(r"The state/task '(Big result|lambda)' returned a result with a size exceeding the "
                        r"maximum number of bytes service limit\.", description["cause"])


def test_an_input_over_the_limit_after_parameters_fails_the_run() -> None:
    description = run(definition(catch=False), padded(LIMIT - 20), 10)  # Parameters add FunctionName: over
    assert description["status"] == "FAILED"
    assert description["error"] == "States.DataLimitExceeded"
    assert "'Big result'" in description["cause"]


def test_a_state_output_of_exactly_the_limit_passes_and_one_byte_more_fails() -> None:
    passing = {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}}
    description = run(passing, padded(LIMIT), 10)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert payload_limit.payload_bytes(json.loads(description["output"])) == LIMIT
    assert payload_limit.within_limit(padded(LIMIT)) and not payload_limit.within_limit(padded(LIMIT + 1))


def test_the_size_is_compact_utf8_json() -> None:
    assert payload_limit.payload_bytes({"a": [1, 2], "b": "é"}) == len('{"a":[1,2],"b":"é"}'.encode())
    assert payload_limit.payload_bytes("raw") == 3
