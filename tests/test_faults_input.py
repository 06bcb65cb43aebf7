"""Bad execution input: every invalid field, and input that is not a JSON object, fails the first state with an
error naming the field, before any SageMaker request (counted at the local SageMaker) or any other state."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from faults_helpers import RequestCounter, entered_states

from lambdas.workflow_input.schema import DEFAULTS
from local.runner import LocalShardlab

pytestmark = pytest.mark.slow

# (execution input, text the cause must contain)
INVALID_INPUTS: list[tuple[Any, str]] = [
    ({"trainYear": [1979]}, "unknown execution input key(s) trainYear"),
    ({"trainYears": "1979"}, "trainYears must be a non-empty list"),
    ({"trainYears": []}, "trainYears must be a non-empty list"),
    ({"trainYears": [1978]}, "trainYears[0]: 1978 is not a complete GDELT year"),
    ({"trainYears": [1979, 2999]}, "trainYears[1]: 2999 is not a complete GDELT year"),
    ({"trainYears": [1979, 1979]}, "trainYears must not repeat a year"),
    ({"trainYears": [1979.0]}, "trainYears[0] must be a year (integer)"),
    ({"trainYears": [True]}, "trainYears[0] must be a year (integer)"),
    ({"testYear": 1979}, "testYear 1979 is also in trainYears"),
    ({"testYear": 2999}, "testYear: 2999 is not a complete GDELT year"),
    ({"testYear": "1984"}, "testYear must be a year (integer)"),
    ({"topEventCodes": 0}, "topEventCodes must be between 1 and 300"),
    ({"topEventCodes": 301}, "topEventCodes must be between 1 and 300"),
    ({"topEventCodes": "20"}, "topEventCodes must be an integer"),
    ({"topEventCodes": 20.5}, "topEventCodes must be an integer"),
    ({"instanceCount": 0}, "instanceCount must be between 1 and 100"),
    ({"instanceCount": 101}, "instanceCount must be between 1 and 100"),
    ({"instanceCount": True}, "instanceCount must be an integer"),
    ({"trainingInstanceType": "c5.2xlarge"}, "trainingInstanceType must be a SageMaker instance type"),
    ({"trainingInstanceType": 5}, "trainingInstanceType must be a SageMaker instance type"),
    ({"hostingInstanceType": "ml.m5"}, "hostingInstanceType must be a SageMaker instance type"),
    ({"hyperParameters": ["epochs", "1"]}, "hyperParameters must be an object of strings"),
    ({"hyperParameters": {"Epochs": "1"}}, 'hyperParameters: "Epochs" is not a hyperparameter name'),
    ({"hyperParameters": {"feature_dim": "3"}}, "hyperParameters.feature_dim is set by the pipeline"),
    ({"hyperParameters": {"epochs": 1}}, "hyperParameters.epochs must be a non-empty string"),
    ({"hyperParameters": {"epochs": ""}}, "hyperParameters.epochs must be a non-empty string"),
    ({"useSpotInstances": "true"}, "useSpotInstances must be true or false"),
    ({"keepEndpoints": 1}, "keepEndpoints must be true or false"),
    ({"scoring": "batch"}, 'scoring must be one of "endpoint", "transform", got "batch"'),
    ({"maxCostUsd": 0}, "maxCostUsd must satisfy 0 < x <= 1e+06 (US dollars), got 0"),
    ({"maxCostUsd": "5"}, 'maxCostUsd must be a number of US dollars or null, got "5"'),
    ({"endpointPollSeconds": 0}, "endpointPollSeconds must be between 1 and 300"),
    ({"endpointPollSeconds": 301}, "endpointPollSeconds must be between 1 and 300"),
    ({"seed": -1}, "seed must be between 0 and 4294967295"),
    ({"seed": 2**32}, "seed must be between 0 and 4294967295"),
    ({"trainFraction": 0}, "trainFraction must satisfy 0 < x < 1"),
    ({"trainFraction": 1}, "trainFraction must satisfy 0 < x < 1"),
    ({"trainFraction": "0.9"}, "trainFraction must be a number"),
    ({"maxBadRowFraction": -0.1}, "maxBadRowFraction must satisfy 0 <= x < 1"),
    ({"maxBadRowFraction": 1}, "maxBadRowFraction must satisfy 0 <= x < 1"),
    ({"maxRuntimeInSeconds": 59}, "maxRuntimeInSeconds must be between 60 and 432000"),
    ({"maxWaitTimeInSeconds": 432001}, "maxWaitTimeInSeconds must be between 60 and 432000"),
    ({"useSpotInstances": True, "maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 600},
     "maxWaitTimeInSeconds must be at least maxRuntimeInSeconds when useSpotInstances is true"),
    ({"sourceBucket": "Bad_Bucket"}, "sourceBucket must be an S3 bucket name"),
    ({"sourceBucket": 3}, "sourceBucket must be an S3 bucket name"),
    ({"sourcePrefix": "events"}, "sourcePrefix must be a key prefix ending in '/'"),
    ({"sourcePrefix": 5}, "sourcePrefix must be a key prefix ending in '/'"),
    # Well-formed, but outside cdk.json shardlab:sourceLocations: the roles could not read it.
    ({"sourceBucket": "my-gdelt-mirror"}, "s3://my-gdelt-mirror/events/ is outside the locations"),
    ({"sourcePrefix": "events-old/"}, "s3://gdelt-open-data/events-old/ is outside the locations"),
    # A sweep: each bad value named by its key path and the limit (tests/test_sweep_input.py has every case).
    ({"sweep": {}}, "sweep must give at least one of instanceCount, hyperParameters"),
    ({"sweep": {"instanceCount": []}}, "sweep.instanceCount must be a non-empty list"),
    ({"sweep": {"instanceCount": [1, 1]}}, "sweep.instanceCount lists 1 twice"),
    ({"sweep": {"instanceCount": [1, 101]}}, "sweep.instanceCount[1] must be between 1 and 100"),
    ({"sweep": {"hyperParameters": {"epochs": [2]}}}, "sweep.hyperParameters.epochs[0] must be a non-empty string"),
    ({"sweep": {"hyperParameters": {"loss": ["squared_loss"]}}},
     "sweep.hyperParameters has unknown key(s) sweep.hyperParameters.loss"),
    ({"sweep": {"instanceCount": [1, 2, 3, 4, 5], "hyperParameters": {"epochs": [str(n) for n in range(1, 6)]}}},
     "sweep has 25 points (5 instanceCount x 5 hyperParameters.epochs); a sweep runs at most 24"),
    ({"sweep": {"instanceCount": [7, 9, 10]}}, "lcm = 630 train objects per source group"),
    ({"instanceCount": 2, "sweep": {"instanceCount": [1, 2]}}, "give it in one place"),
    ({"scoring": "endpoint", "sweep": {"instanceCount": [1, 2]}}, 'scoring "endpoint" cannot go with a sweep'),
    ({"keepEndpoints": True, "sweep": {"instanceCount": [1, 2]}}, "keepEndpoints true cannot go with a sweep"),
    # Valid JSON, but not an object.
    ([1979, 1980], "execution input must be a JSON object, got [1979, 1980]"),
    ("trainYears", 'execution input must be a JSON object, got "trainYears"'),
    (42, "execution input must be a JSON object, got 42"),
    (True, "execution input must be a JSON object, got true"),
]


def test_every_input_field_is_covered() -> None:
    covered = {key for raw, _ in INVALID_INPUTS if isinstance(raw, dict) for key in raw}
    assert set(DEFAULTS) <= covered


def test_invalid_input_fails_in_the_first_state_before_any_sagemaker_request(template: dict[str, Any]) -> None:
    with LocalShardlab(template) as local:
        counter = RequestCounter(local)
        sfn = boto3.client("stepfunctions")
        arns = [
            sfn.start_execution(stateMachineArn=local.state_machine_arn, name=f"bad-input-{index}",
                                input=json.dumps(raw))["executionArn"]
            for index, (raw, _) in enumerate(INVALID_INPUTS)
        ]
        for arn, (raw, expected) in zip(arns, INVALID_INPUTS, strict=True):
            description = local.wait(arn, timeout_seconds=120)
            assert description["status"] == "FAILED", (raw, description)
            assert description["error"] == "InvalidExecutionInputError", (raw, description)
            assert expected in json.loads(description["cause"])["errorMessage"], (raw, description["cause"])
            assert entered_states(arn) == ["Validate input"], raw
        local.sagemaker.wait_idle(5)
        assert counter.operations == []
        assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
