"""Scoring by batch transform (`scoring` `transform`): each branch's model scores the test year in a
`CreateTransformJob` `.sync` task, both at once; the compare Lambda then reads their outputs.

Linear Learner's documented batch transform formats ("Common data formats for inference", "Use batch transform
with built-in algorithms", "Linear learner response formats"): the prepared test objects are dense
recordIO-protobuf, so `ContentType` `application/x-recordio-protobuf` with `SplitType` `RecordIO` (SageMaker cuts
the objects at record boundaries into mini-batches of at most `MaxPayloadInMB`, `BatchStrategy` `MultiRecord`);
`Accept` `application/jsonlines` (one `{"score": ...}` line per record, the response type the docs recommend for
batch transform) with `AssembleWith` `Line`, so each `<test object>.out` holds one line per record, in order.

A transform job has no stopping condition of its own, so its task has `TimeoutSecondsPath`
(`config.transformTimeoutSeconds`); Step Functions stops the job of a task that times out or is abandoned, and the
run's clean-up stops it too.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.lambda_common.vocabulary import BRANCH_LABELS, BRANCHES, JSONLINES, RECORDIO_PROTOBUF, TEST_CHANNEL
from stacks.config_paths import config_path
from stacks.hosting import SAGEMAKER_RETRY, create_model_state
from stacks.names import sagemaker_arn

J = sfn.JsonPath
TRANSFORM_SYNC_RULE = "StepFunctionsGetEventsForSageMakerTransformJobsRule"
TRANSFORM_INSTANCE_COUNT = 1
MAX_PAYLOAD_MB = 6  # SageMaker's default and the largest request a container is sent


def transform_output_path(branch: str) -> str:
    """`s3://<bucket>/<runPrefix>transform/<branch>/` as an intrinsic."""
    return (f"States.Format('s3://{{}}/{{}}transform/{branch}/', {config_path('bucket')}, "
            f"{config_path('runPrefix')})")


def create_transform_job_state(*, branch: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": "Scores every test object with this branch's model; waits for the job to end.",
        "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createTransformJob.sync",
        "Parameters": {
            "TransformJobName.$": config_path(f"names.{branch}"),
            "ModelName.$": config_path(f"names.{branch}"),
            "BatchStrategy": "MultiRecord",
            "MaxPayloadInMB": MAX_PAYLOAD_MB,
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri.$": (f"States.Format('s3://{{}}/{{}}{TEST_CHANNEL}/', {config_path('bucket')}, "
                                    f"{config_path('datasetPrefix')})"),
                    }
                },
                "ContentType": RECORDIO_PROTOBUF,
                "SplitType": "RecordIO",
                "CompressionType": "None",
            },
            "TransformOutput": {
                "S3OutputPath.$": transform_output_path(branch),
                "Accept": JSONLINES,
                "AssembleWith": "Line",
            },
            "TransformResources": {
                "InstanceType.$": config_path("hostingInstanceType"),
                "InstanceCount": TRANSFORM_INSTANCE_COUNT,
            },
            "Tags.$": config_path("tags"),
        },
        "TimeoutSecondsPath": config_path("transformTimeoutSeconds"),
        # Only what compare and the report use: the whole description would grow the state for nothing.
        "ResultSelector": {
            "transformJobName.$": "$.TransformJobName",
            "outputPath.$": "$.TransformOutput.S3OutputPath",
            "instanceType.$": "$.TransformResources.InstanceType",
            "instanceCount.$": "$.TransformResources.InstanceCount",
            "startTime.$": "$.TransformStartTime",
            "endTime.$": "$.TransformEndTime",
        },
        "Retry": [SAGEMAKER_RETRY],
    }


def score_by_transform(scope: Construct, *, role_arn: str, image_uri: str, suffix: str = "") -> sfn.Parallel:
    """Per branch: its model, then its transform job; the jobs' outputs at `$.transform.<branch>`. `suffix`
    names a second copy of the states (a sweep point's); the caller adds the Catch."""
    scoring = sfn.Parallel(
        scope, f"Score by batch transform{suffix}",
        comment="Both models score the test year in batch transform jobs: no endpoint, nothing left running.",
        result_selector={branch: J.object_at(f"$[{i}]") for i, branch in enumerate(BRANCHES)},
        result_path="$.transform",
    )
    for branch in BRANCHES:
        model = sfn.CustomState(
            scope, f"Create {branch} model for transform{suffix}",
            state_json=create_model_state(branch=branch, role_arn=role_arn, image_uri=image_uri),
        )
        transform = sfn.CustomState(
            scope, f"Transform with {BRANCH_LABELS[branch]} model{suffix}",
            state_json=create_transform_job_state(branch=branch),
        )
        scoring.branch(model.next(transform))
    return scoring


def transform_outputs_payload() -> dict[str, Any]:
    """What the compare Lambda needs besides the common fields (``CompareEvent`` fields): each branch's job and
    output prefix."""
    return {
        "transform_jobs": {branch: J.string_at(f"$.transform.{branch}.transformJobName") for branch in BRANCHES},
        "transform_outputs": {branch: J.string_at(f"$.transform.{branch}.outputPath") for branch in BRANCHES},
    }


def transform_task_statements(stack: Stack, *, prefix: str) -> list[iam.PolicyStatement]:
    """What the transform tasks need (the models' statements are hosting's, on the same names)."""
    return [
        iam.PolicyStatement(
            sid="TransformJobs",
            # Describe/Stop: the .sync integration polls the job and stops it if the task is abandoned.
            actions=["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
            resources=[sagemaker_arn(stack, "transform-job", prefix)],
        ),
        iam.PolicyStatement(
            sid="TransformSyncRule",  # the managed rule behind createTransformJob.sync
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[stack.format_arn(service="events", resource="rule", resource_name=TRANSFORM_SYNC_RULE)],
        ),
    ]
