"""ARN patterns for the runtime SageMaker resources (`<prefix>-<runId>-<branch>`) and other fixed names."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack

# The resources a run creates; each is tagged shardlab:stack/shardlab:run by workflow_input's config.
SAGEMAKER_RUNTIME_TYPES = ("training-job", "model", "endpoint-config", "endpoint", "transform-job")

# The managed EventBridge rule Step Functions uses for sagemaker:createTrainingJob.sync.
TRAINING_SYNC_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"


def sagemaker_arn(stack: Stack, resource_type: str, prefix: str) -> str:
    """`arn:<partition>:sagemaker:<region>:<account>:<type>/<prefix>-*` (SageMaker lowercases ARNs)."""
    return stack.format_arn(service="sagemaker", resource=resource_type, resource_name=f"{prefix}-*")


def training_sync_rule_arn(stack: Stack) -> str:
    return stack.format_arn(service="events", resource="rule", resource_name=TRAINING_SYNC_RULE)


def s3_object_arn(bucket_arn: str, key_pattern: str) -> str:
    return f"{bucket_arn}/{key_pattern}"


def source_bucket_arn(bucket: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{bucket}"


def log_group_arn(stack: Stack, resource_name: str) -> str:
    """`arn:...:logs:<region>:<account>:log-group:<resource_name>`: a group, `<group>:*` or its log streams."""
    return stack.format_arn(service="logs", resource="log-group", resource_name=resource_name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME)


def executions_arn(stack: Stack, state_machine_name: str) -> str:
    """Every execution of the state machine (execution names are chosen when a run starts)."""
    return stack.format_arn(service="states", resource="execution", resource_name=f"{state_machine_name}:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME)
