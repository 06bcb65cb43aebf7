"""Hosting tasks: model -> endpoint config -> endpoint, then a bounded wait until the endpoint is InService.

SageMaker has no `.sync` for endpoints, so the wait is Wait + DescribeEndpoint + Choice with a counter
(`config.maxEndpointPolls`, about an hour) so a stuck endpoint cannot keep the execution running forever.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws

from stacks.config_paths import config_path

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
