"""Linear Learner training: the region -> image map, the SageMaker execution role and the training tasks."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnMapping, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.lambda_common.vocabulary import (
    BRANCH_LABELS,
    BRANCHES,
    DISTRIBUTION_TYPES,
    ENDPOINT_LOG_GROUP_PREFIX,
    RECORDIO_PROTOBUF,
    TRAIN_CHANNEL,
    TRAINING_LOG_GROUP,
    VALIDATION_CHANNEL,
    VALIDATION_DISTRIBUTION_TYPE,
)
from stacks.acknowledgements import LOGS_ARN, RUNTIME_NAMES, ack, iam5
from stacks.config_paths import config_path
from stacks.hosting import SAGEMAKER_RETRY
from stacks.names import log_group_arn
from stacks.storage import CHECKPOINTS_FOLDER, DataBucket

# sagemaker-python-sdk image_uri_config/linear-learner.json, version "1" (same image trains and serves).
LINEAR_LEARNER_ACCOUNTS = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "991648021394",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "712309505854",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "469771592824",
    "ca-west-1": "190319476487",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "664544806723",
    "eu-central-2": "680994064768",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-south-2": "104374241257",
    "eu-west-1": "438346466558",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "226302683700",
    "us-iso-east-1": "490574956308",
    "us-isob-east-1": "765400339828",
    "us-isof-east-1": "108575199400",
    "us-isof-south-1": "124985052026",
    "us-west-1": "632365934929",
    "us-west-2": "174872318107",
}
# ECR's DNS suffix outside the commercial partition.
ECR_DOMAINS = {
    "cn-north-1": "amazonaws.com.cn",
    "cn-northwest-1": "amazonaws.com.cn",
    "us-iso-east-1": "c2s.ic.gov",
    "us-isob-east-1": "sc2s.sgov.gov",
    "us-isof-east-1": "csp.hci.ic.gov",
    "us-isof-south-1": "csp.hci.ic.gov",
}
IMAGE_REPOSITORY = "linear-learner"
IMAGE_TAG = "1"

TRAINING_VOLUME_GB = 10


def image_uri_for(region: str) -> str:
    """The URI the map resolves to in `region` (for tests and local mode)."""
    domain = ECR_DOMAINS.get(region, "amazonaws.com")
    return f"{LINEAR_LEARNER_ACCOUNTS[region]}.dkr.ecr.{region}.{domain}/{IMAGE_REPOSITORY}:{IMAGE_TAG}"


class LinearLearnerImage(Construct):
    """Resolves the image per region at deploy time, so the synthesized template is region-agnostic."""

    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(scope, id_)
        self.mapping = CfnMapping(
            self,
            "Map",
            mapping={
                region: {"account": account, "domain": ECR_DOMAINS.get(region, "amazonaws.com")}
                for region, account in sorted(LINEAR_LEARNER_ACCOUNTS.items())
            },
        )
        self.account = self.mapping.find_in_map(Aws.REGION, "account")
        self.image_uri = Fn.join(
            "",
            [
                self.account,
                ".dkr.ecr.",
                Aws.REGION,
                ".",
                self.mapping.find_in_map(Aws.REGION, "domain"),
                f"/{IMAGE_REPOSITORY}:{IMAGE_TAG}",
            ],
        )
        self.repository_arn = Fn.join(
            "", [f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:", self.account, f":repository/{IMAGE_REPOSITORY}"]
        )


class SageMakerExecutionRole(Construct):
    """Role of the training jobs and models: read datasets, write/read model artifacts, logs, metrics."""

    def __init__(self, scope: Construct, id_: str, *, storage: DataBucket, image: LinearLearnerImage,
                 resource_prefix: str) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="shardlab training jobs and models",
        )
        storage.grant_dataset_read(self.role)
        storage.grant_dataset_list(self.role)
        storage.grant_model_artifacts(self.role)
        storage.grant_checkpoints(self.role)
        training_logs = f"{TRAINING_LOG_GROUP}:*"
        endpoint_logs = f"{ENDPOINT_LOG_GROUP_PREFIX}{resource_prefix}-*"
        statements = [
            iam.PolicyStatement(
                sid="PullLinearLearnerImage",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[image.repository_arn],
            ),
            iam.PolicyStatement(
                sid="EcrLogin",  # GetAuthorizationToken has no resource-level permissions
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="TrainingAndEndpointLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                         "logs:DescribeLogStreams"],
                resources=[
                    # CreateLogGroup is authorized on the bare group ARN (no ":*"), the others on "<group>:*"
                    log_group_arn(stack, TRAINING_LOG_GROUP),
                    log_group_arn(stack, training_logs),
                    log_group_arn(stack, endpoint_logs),
                ],
            ),
            iam.PolicyStatement(
                sid="SageMakerMetrics",  # PutMetricData has no resource-level permissions
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        ack(self.role, iam5("*"),
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData (conditioned on the /aws/sagemaker/* namespace) "
            "support no resource-level permissions")
        ack(self.role, iam5(f"{LOGS_ARN}:log-group:{training_logs}"),
            "SageMaker writes one log stream per training job host (<job>/algo-N-...) to this fixed group")
        ack(self.role, iam5(f"{LOGS_ARN}:log-group:{endpoint_logs}"),
            "SageMaker writes endpoint logs to /aws/sagemaker/Endpoints/<endpoint>; " + RUNTIME_NAMES)


def training_task_state(*, branch: str, role_arn: str, image_uri: str) -> dict[str, Any]:
    """`sagemaker:createTrainingJob.sync` written out, because CDK's SageMakerCreateTrainingJob cannot
    express managed spot training (EnableManagedSpotTraining + MaxWaitTimeInSeconds) or a JSONPath
    instance count; writing the Task by hand also keeps its IAM explicit (see workflow.py)."""
    distribution = DISTRIBUTION_TYPES[branch]

    def channel(name: str, distribution_type: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "ContentType": RECORDIO_PROTOBUF,
            "CompressionType": "None",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    # Trailing slash: `train` alone would also match e.g. `train_old/`.
                    "S3Uri.$": f"States.Format('s3://{{}}/{{}}{name}/', {config_path('bucket')}, "
                               f"{config_path('datasetPrefix')})",
                    "S3DataDistributionType": distribution_type,
                }
            },
        }

    return {
        "Type": "Task",
        "Comment": f"Train Linear Learner with the train channel {distribution}; waits for the job to end.",
        "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync",
        "Parameters": {
            "TrainingJobName.$": config_path(f"names.{branch}"),
            "AlgorithmSpecification": {"TrainingImage": image_uri, "TrainingInputMode": "File"},
            "RoleArn": role_arn,
            "HyperParameters.$": "$.hyperParameters.values",
            "InputDataConfig": [channel(TRAIN_CHANNEL, distribution),
                                channel(VALIDATION_CHANNEL, VALIDATION_DISTRIBUTION_TYPE)],
            "OutputDataConfig": {
                "S3OutputPath.$": f"States.Format('s3://{{}}/{{}}training/', {config_path('bucket')}, "
                                  f"{config_path('runPrefix')})"
            },
            "ResourceConfig": {
                "InstanceCount.$": config_path("instanceCount"),
                "InstanceType.$": config_path("trainingInstanceType"),
                "VolumeSizeInGB": TRAINING_VOLUME_GB,
            },
            "StoppingCondition.$": config_path("stoppingCondition"),
            "EnableManagedSpotTraining.$": config_path("useSpotInstances"),
            # Linear Learner snapshots its state here with managed spot training, so an interrupted job resumes.
            # Set on every job: a Task's Parameters cannot leave a member out by a condition, and on-demand
            # jobs just never need it.
            "CheckpointConfig": {
                "S3Uri.$": f"States.Format('s3://{{}}/{{}}{CHECKPOINTS_FOLDER}/{branch}/', {config_path('bucket')}, "
                           f"{config_path('runPrefix')})"
            },
            "Tags.$": config_path("tags"),
        },
        "ResultSelector": {
            "trainingJobName.$": "$.TrainingJobName",
            "modelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
        },
    }


def train_both_ways(scope: Construct, *, role_arn: str, image_uri: str, suffix: str = "") -> sfn.Parallel:
    """Both training jobs at once (`$.training.<branch>`); `suffix` names a second copy of the states (state
    names are unique in a state machine: a sweep point's are `Train ... at sweep point`). The caller adds
    the Catch: inside a Map iteration only the Map itself may catch."""
    training = sfn.Parallel(
        scope,
        f"Train both ways{suffix}",
        comment="The same job twice; only the train channel's S3DataDistributionType differs.",
        result_selector={branch: sfn.JsonPath.object_at(f"$[{i}]") for i, branch in enumerate(BRANCHES)},
        result_path="$.training",
    )
    for branch in BRANCHES:
        state = training_task_state(branch=branch, role_arn=role_arn, image_uri=image_uri)
        # A throttled CreateTrainingJob created nothing, so the task may simply run again; a job that
        # fails or stops ends the task with States.TaskFailed, which is not retried.
        state["Retry"] = [SAGEMAKER_RETRY]
        training.branch(sfn.CustomState(scope, f"Train {BRANCH_LABELS[branch]}{suffix}", state_json=state))
    return training
