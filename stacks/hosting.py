"""The hosting stage's states, per branch: model -> endpoint config -> endpoint, then a bounded wait until the
endpoint is InService (`host_one_model`; the workflow runs one per branch in "Host both models").

SageMaker has no `.sync` for endpoints, so the wait is Wait + DescribeEndpoint + Choice with a counter
(`config.maxEndpointPolls`, about an hour) so a stuck endpoint cannot keep the execution running forever.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Token
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config_paths import config_path

J = sfn.JsonPath

# What Step Functions raises when a SageMaker call fails (Step Functions developer guide, "Create and manage
# Amazon SageMaker AI jobs with Step Functions" and "AWS SDK service integrations"): the optimized integrations
# (sagemaker:createModel, ...) raise `SageMaker.AmazonSageMakerException` for a service error SageMaker does not
# model, throttling included (`SageMaker.<modeled error>Exception` otherwise); the AWS SDK integration
# (aws-sdk:sagemaker:describeEndpoint) raises `SageMaker.SageMakerException` for those. A bare
# `ThrottlingException` is never raised by either. Retries are bounded and harmless for Create* (a repeated
# call fails with "already exists", which the run's Catch cleans up).
SAGEMAKER_RETRY = {
    "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
    "IntervalSeconds": 5,
    "MaxAttempts": 4,
    "BackoffRate": 2,
}
SAGEMAKER_SDK_RETRY = {**SAGEMAKER_RETRY, "ErrorEquals": ["SageMaker.SageMakerException"]}
HOSTING_VARIANT = "AllTraffic"


# Each Create* answers with the new ARN only; it is kept under $.created (CustomState cannot express a
# null ResultPath: CDK drops None from the state JSON).


def _sagemaker(action: str) -> str:
    return f"arn:{Aws.PARTITION}:states:::sagemaker:{action}"


def create_model_state(*, branch: str, role_arn: str, image_uri: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": _sagemaker("createModel"),
        "Parameters": {
            "ModelName.$": config_path(f"names.{branch}"),
            "ExecutionRoleArn": role_arn,
            "PrimaryContainer": {
                "Image": image_uri,
                "ModelDataUrl.$": f"$.training.{branch}.modelArtifacts",
            },
            "Tags.$": config_path("tags"),
        },
        "ResultPath": "$.created.model",
        "Retry": [SAGEMAKER_RETRY],
    }


def create_endpoint_config_state(*, branch: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": _sagemaker("createEndpointConfig"),
        "Parameters": {
            "EndpointConfigName.$": config_path(f"names.{branch}"),
            "ProductionVariants": [
                {
                    "VariantName": HOSTING_VARIANT,
                    "ModelName.$": config_path(f"names.{branch}"),
                    "InitialInstanceCount": 1,
                    "InstanceType.$": config_path("hostingInstanceType"),
                    "InitialVariantWeight": 1,
                }
            ],
            "Tags.$": config_path("tags"),
        },
        "ResultPath": "$.created.endpointConfig",
        "Retry": [SAGEMAKER_RETRY],
    }


def create_endpoint_state(*, branch: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": _sagemaker("createEndpoint"),
        "Parameters": {
            "EndpointName.$": config_path(f"names.{branch}"),
            "EndpointConfigName.$": config_path(f"names.{branch}"),
            "Tags.$": config_path("tags"),
        },
        "ResultPath": "$.created.endpoint",
        "Retry": [SAGEMAKER_RETRY],
    }


def describe_endpoint_state(*, branch: str) -> dict[str, Any]:
    # No optimized integration exists for DescribeEndpoint; the AWS SDK integration calls it directly.
    return {
        "Type": "Task",
        "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:sagemaker:describeEndpoint",
        "Parameters": {"EndpointName.$": config_path(f"names.{branch}")},
        # The whole description: FailureReason is present only when the endpoint failed.
        "ResultPath": "$.endpoint",
        "Retry": [SAGEMAKER_SDK_RETRY],
    }


# --- one branch's hosting: the states above, then the bounded wait -------------------------------------------


def host_one_model(scope: Construct, *, branch: str, role_arn: str, image_uri: str) -> sfn.IChainable:
    """Model -> endpoint config -> endpoint, then the bounded wait until it is InService."""
    model = sfn.CustomState(
        scope, f"Create {branch} model",
        state_json=create_model_state(branch=branch, role_arn=role_arn, image_uri=image_uri),
    )
    endpoint_config = sfn.CustomState(
        scope, f"Create {branch} endpoint config", state_json=create_endpoint_config_state(branch=branch)
    )
    endpoint = sfn.CustomState(
        scope, f"Create {branch} endpoint", state_json=create_endpoint_state(branch=branch)
    )
    return model.next(endpoint_config).next(endpoint).next(wait_until_in_service(scope, branch=branch))


def wait_until_in_service(scope: Construct, *, branch: str) -> sfn.Chain:
    # Each wait comes from config.endpointPollSchedule (quick first polls, then slower), so the loop's
    # length, and with it the execution's event count, stays bounded for every valid input.
    title = branch.capitalize()
    schedule = J.list_at(config_path("endpointPollSchedule"))
    start = sfn.Pass(
        scope, f"Start waiting for {branch} endpoint",
        parameters={"attempts": 0, "waitSeconds": J.array_get_item(schedule, 0)}, result_path="$.poll",
    )
    wait = sfn.Wait(
        scope, f"Wait for {branch} endpoint", time=sfn.WaitTime.seconds_path("$.poll.waitSeconds"),
    )
    describe = sfn.CustomState(
        scope, f"Describe {branch} endpoint", state_json=describe_endpoint_state(branch=branch)
    )
    next_attempt = J.math_add(J.number_at("$.poll.attempts"), 1)
    count = sfn.Pass(
        scope, f"Count {branch} endpoint polls",
        parameters={"attempts": next_attempt,
                    "waitSeconds": J.array_get_item(schedule, Token.as_number(next_attempt))},
        result_path="$.poll",
    )
    ready = sfn.Succeed(scope, f"{title} endpoint in service")
    failed = sfn.Fail(
        scope, f"{title} endpoint failed", error="EndpointFailed", cause_path="$.endpoint.FailureReason"
    )
    timed_out = sfn.Fail(
        scope, f"{title} endpoint timed out", error="EndpointTimeout",
        cause="The endpoint was not InService after the polls of config.endpointPollSchedule (about an hour).",
    )
    check = (
        sfn.Choice(scope, f"{title} endpoint ready?")
        .when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"), ready)
        .when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "Failed"), failed)
        .when(
            sfn.Condition.number_greater_than_equals_json_path("$.poll.attempts", config_path("maxEndpointPolls")),
            timed_out,
        )
        .otherwise(count.next(wait))
    )
    return start.next(wait).next(describe).next(check)
