"""The shardlab stack: wires the constructs together and does every grant."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import ArnFormat, Aws, CfnCondition, CfnOutput, CfnRule, CfnRuleAssertion, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.acknowledgements import acknowledge_findings
from stacks.cleanup import CleanupGuard, RunCleanup
from stacks.config import ShardlabSettings
from stacks.data_preparation import DataPreparation
from stacks.lambda_code import ProjectFunction
from stacks.names import (
    SAGEMAKER_RUNTIME_TYPES,
    sagemaker_arn,
    source_bucket_arn,
    training_sync_rule_arn,
)
from stacks.notebook import NotebookInstance
from stacks.regions import notebook_supported_here, only_where_notebooks_exist
from stacks.storage import DATASETS_PREFIX, RUNS_PREFIX, DataBucket
from stacks.training import LINEAR_LEARNER_ACCOUNTS, LinearLearnerImage, SageMakerExecutionRole
from stacks.workflow import Pipeline, PipelineFunctions
from workflow_input.config import parse_source_location

EXAMPLE_INPUT = {"trainYears": [1979, 1980, 1981, 1982, 1983], "testYear": 1984, "keepEndpoints": False}


class ShardlabStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, settings: ShardlabSettings, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        prefix = settings.resource_prefix
        defaults = settings.defaults
        self.settings = settings
        self.state_machine_name = f"{prefix}-pipeline"

        self.storage = DataBucket(self, "Storage", retain=settings.retain_data,
                                  run_data_expiration_days=settings.run_data_expiration_days)
        bucket = self.storage.bucket
        self.image = LinearLearnerImage(self, "LinearLearnerImage")
        CfnRule(self, "RegionHasLinearLearnerImage", assertions=[CfnRuleAssertion(
            assert_=Fn.condition_contains(sorted(LINEAR_LEARNER_ACCOUNTS), Aws.REGION),
            assert_description="shardlab's Linear Learner image map has no entry for this region "
                               "(see stacks/training.py for the supported regions).",
        )])
        self.sagemaker_role = SageMakerExecutionRole(self, "SageMakerExecution", bucket=bucket, image=self.image,
                                                     resource_prefix=prefix)

        common_env = {"SHARDLAB_BUCKET": bucket.bucket_name, "SHARDLAB_PREFIX": prefix}
        self.workflow_input = ProjectFunction(
            self, "WorkflowInput", handler="workflow_input.handler.handler",
            description="shardlab: apply defaults to the execution input, validate it, derive names",
            timeout=Duration.seconds(10),
            environment={**common_env, "SHARDLAB_DEFAULTS": json.dumps(defaults, sort_keys=True),
                         "SHARDLAB_SOURCE_LOCATIONS": json.dumps(list(settings.source_locations))},
        )
        self.data_preparation = DataPreparation(self, "DataPreparation", environment=common_env)
        self.compare = ProjectFunction(
            self, "Compare", handler="compare.handler.handler",
            description="shardlab: score the test year on both endpoints, write the report, put metrics",
            memory_mb=2048, timeout=Duration.minutes(15),
            environment={**common_env, "SHARDLAB_METRICS_NAMESPACE": settings.metrics_namespace},
        )
        self.run_cleanup = RunCleanup(self, "RunCleanup", resource_prefix=prefix)
        self.quota_check = ProjectFunction(
            self, "QuotaCheck", handler="preflight.handler.handler",
            description="shardlab: SageMaker instance quotas (Service Quotas) vs. the run's need",
            timeout=Duration.seconds(60),
        )
        self.quota_check.role.add_to_policy(iam.PolicyStatement(
            sid="ReadSageMakerQuotas",  # List* of Service Quotas support no resource-level permissions
            actions=["servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"],
            resources=["*"],
        ))

        self.pipeline = Pipeline(
            self,
            "Pipeline",
            functions=PipelineFunctions(
                validate=self.workflow_input.function,
                profile=self.data_preparation.profile.function,
                shard=self.data_preparation.shard.function,
                finalize=self.data_preparation.finalize.function,
                compare=self.compare.function,
                cleanup=self.run_cleanup.function.function,
                quota_check=self.quota_check.function,
            ),
            sagemaker_role_arn=self.sagemaker_role.role.role_arn,
            image_uri=self.image.image_uri,
            state_machine_name=self.state_machine_name,
            shard_concurrency=settings.shard_concurrency,
        )
        state_machine = self.pipeline.state_machine
        self._grant_data_preparation(bucket.bucket_arn)
        self._grant_compare(bucket.bucket_arn)
        self._grant_state_machine()

        self.guard = CleanupGuard(self, "CleanupGuard", resource_prefix=prefix,
                                  state_machine_arn=state_machine.state_machine_arn,
                                  state_machine_name=self.state_machine_name)
        # Deleted first on `cdk destroy`: runs are stopped while their roles and bucket still exist, and the
        # bucket is emptied only after stopped training jobs (which may still save artifacts) have ended.
        bucket_resource = bucket.node.default_child
        assert bucket_resource is not None
        self.guard.resource.node.add_dependency(bucket_resource, self.sagemaker_role)
        auto_delete = bucket.node.try_find_child("AutoDeleteObjectsCustomResource")
        if auto_delete is not None:
            auto_delete.node.add_dependency(self.guard.resource)

        self.notebook: NotebookInstance | None = None
        self.notebook_condition: CfnCondition | None = None
        if settings.notebook and notebook_supported_here(self):
            self.notebook = NotebookInstance(
                self, "Notebook", resource_prefix=prefix, instance_type=settings.notebook_instance_type,
                idle_minutes=settings.notebook_idle_minutes, bucket_name=bucket.bucket_name,
                state_machine_arn=state_machine.state_machine_arn,
            )
            self._grant_notebook(self.notebook.role, bucket.bucket_arn)
            self.notebook_condition = only_where_notebooks_exist(self.notebook)

        self._dashboard(prefix, settings.metrics_namespace)
        self._outputs(bucket.bucket_name, state_machine.state_machine_arn)
        acknowledge_findings(self)

    # --- grants -------------------------------------------------------------------------------------------

    def _read_sources(self, sid: str) -> list[iam.PolicyStatement]:
        """Read (and list, so a missing key is a 404, not a 403) every location of shardlab:sourceLocations."""
        locations = [parse_source_location(location) for location in self.settings.source_locations]
        statements = [iam.PolicyStatement(sid=sid, actions=["s3:GetObject"],
                                          resources=[f"{source_bucket_arn(b)}/{p}*" for b, p in locations])]
        for bucket in dict.fromkeys(b for b, _ in locations):
            statements.append(iam.PolicyStatement(
                sid=f"List{sid}{len(statements)}", actions=["s3:ListBucket"], resources=[source_bucket_arn(bucket)],
                conditions={"StringLike": {"s3:prefix": [f"{p}*" for b, p in locations if b == bucket]}},
            ))
        return statements

    def _grant_data_preparation(self, bucket_arn: str) -> None:
        read_source = self._read_sources("ReadSourceLocations")
        list_datasets = iam.PolicyStatement(
            sid="ListDatasets", actions=["s3:ListBucket"], resources=[bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{DATASETS_PREFIX}*"]}},
        )
        datasets = f"{bucket_arn}/{DATASETS_PREFIX}*"
        read_datasets = iam.PolicyStatement(sid="ReadDatasets", actions=["s3:GetObject"], resources=[datasets])
        write_datasets = iam.PolicyStatement(
            sid="WriteDatasets",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[datasets],
        )
        prep = self.data_preparation
        for statement in [*read_source, read_datasets, list_datasets]:
            prep.profile.role.add_to_policy(statement)
        for statement in [*read_source, write_datasets, list_datasets]:
            prep.shard.role.add_to_policy(statement)
        for statement in [write_datasets, list_datasets]:
            prep.finalize.role.add_to_policy(statement)

    def _grant_compare(self, bucket_arn: str) -> None:
        prefix = self.settings.resource_prefix
        role = self.compare.role
        statements = [
            iam.PolicyStatement(sid="ReadTestData", actions=["s3:GetObject"],
                                resources=[f"{bucket_arn}/{DATASETS_PREFIX}*"]),
            iam.PolicyStatement(sid="WriteReport", actions=["s3:PutObject", "s3:GetObject"],
                                resources=[f"{bucket_arn}/{RUNS_PREFIX}*"]),
            iam.PolicyStatement(sid="ListRunData", actions=["s3:ListBucket"], resources=[bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{DATASETS_PREFIX}*",
                                                                          f"{RUNS_PREFIX}*"]}}),
            iam.PolicyStatement(sid="ScoreEndpoints",
                                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                                resources=[sagemaker_arn(self, "endpoint", prefix)]),
            iam.PolicyStatement(sid="ReadTrainingFigures", actions=["sagemaker:DescribeTrainingJob"],
                                resources=[sagemaker_arn(self, "training-job", prefix)]),
            iam.PolicyStatement(
                sid="PutComparisonMetrics",  # PutMetricData has no resource-level permissions
                actions=["cloudwatch:PutMetricData"], resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": self.settings.metrics_namespace}},
            ),
        ]
        for statement in statements:
            role.add_to_policy(statement)

    def _grant_state_machine(self) -> None:
        """What the hand-written SageMaker tasks need (the Lambda tasks are granted by CDK)."""
        prefix = self.settings.resource_prefix
        state_machine = self.pipeline.state_machine
        statements = [
            iam.PolicyStatement(
                sid="TrainingJobs",
                # Stop/Describe: the .sync integration polls the job and stops it if the execution stops.
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
                         "sagemaker:StopTrainingJob"],
                resources=[sagemaker_arn(self, "training-job", prefix)],
            ),
            iam.PolicyStatement(
                sid="Models", actions=["sagemaker:CreateModel"],
                resources=[sagemaker_arn(self, "model", prefix)],
            ),
            iam.PolicyStatement(
                sid="EndpointConfigs", actions=["sagemaker:CreateEndpointConfig"],
                resources=[sagemaker_arn(self, "endpoint-config", prefix)],
            ),
            iam.PolicyStatement(
                sid="Endpoints",
                # CreateEndpoint is authorized against both the endpoint and the endpoint config.
                actions=["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint"],
                resources=[sagemaker_arn(self, "endpoint", prefix),
                           sagemaker_arn(self, "endpoint-config", prefix)],
            ),
            iam.PolicyStatement(
                # Tags in a Create* request need AddTags on the new resource; the integrations read them back.
                sid="TagOnCreate",
                actions=["sagemaker:AddTags", "sagemaker:ListTags"],
                resources=[sagemaker_arn(self, t, prefix)
                           for t in SAGEMAKER_RUNTIME_TYPES],
            ),
            iam.PolicyStatement(
                sid="PassSageMakerRole", actions=["iam:PassRole"],
                resources=[self.sagemaker_role.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="TrainingSyncRule",  # the managed rule behind createTrainingJob.sync
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[training_sync_rule_arn(self)],
            ),
        ]
        for statement in statements:
            state_machine.add_to_role_policy(statement)

    def _grant_notebook(self, role: iam.IRole, bucket_arn: str) -> None:
        prefix = self.settings.resource_prefix
        state_machine = self.pipeline.state_machine
        statements = [
            *self._read_sources("ReadSourceLocations"),
            iam.PolicyStatement(sid="ReadRunData", actions=["s3:GetObject"],
                                resources=[f"{bucket_arn}/{DATASETS_PREFIX}*", f"{bucket_arn}/{RUNS_PREFIX}*"]),
            iam.PolicyStatement(sid="ListRunData", actions=["s3:ListBucket"], resources=[bucket_arn]),
            iam.PolicyStatement(sid="StartAndFollowRuns",
                                actions=["states:StartExecution", "states:ListExecutions"],
                                resources=[state_machine.state_machine_arn]),
            iam.PolicyStatement(
                sid="ReadRuns", actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                resources=[self.format_arn(service="states", resource="execution",
                                           resource_name=f"{self.state_machine_name}:*",
                                           arn_format=ArnFormat.COLON_RESOURCE_NAME)],
            ),
            iam.PolicyStatement(sid="InvokeRunEndpoints", actions=["sagemaker:InvokeEndpoint"],
                                resources=[sagemaker_arn(self, "endpoint", prefix)]),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)

    # --- dashboard and outputs -------------------------------------------------------------------------

    def _dashboard(self, prefix: str, namespace: str) -> None:
        def search(metric: str, statistic: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=(f"SEARCH('{{{namespace},DistributionType,RunId}} MetricName=\"{metric}\"', "
                            f"'{statistic}', 86400)"),
                using_metrics={}, label="", period=Duration.days(1),
            )

        widgets = [
            ("Test MSE (lower is better; NaiveMeanBaseline = predict the training mean)", "TestMSE"),
            ("Training time (s)", "TrainingTimeInSeconds"),
            ("Billable instance-seconds", "BillableInstanceSeconds"),
            ("Training speed-up of ShardedByS3Key", "TrainingSpeedUp"),
        ]
        self.dashboard = cloudwatch.Dashboard(
            # Dashboard names are account-global (every other name here is regional or generated).
            self, "Dashboard", dashboard_name=f"{prefix}-comparison-{self.region}",
            default_interval=Duration.days(14),
            widgets=[[cloudwatch.GraphWidget(title=title, left=[search(metric, "Maximum")], width=12,
                                             view=cloudwatch.GraphWidgetView.BAR)]
                     for title, metric in widgets],
        )

    def _outputs(self, bucket_name: str, state_machine_arn: str) -> None:
        CfnOutput(self, "BucketName", value=bucket_name, description="Datasets (datasets/) and run outputs (runs/)")
        CfnOutput(self, "StateMachineArn", value=state_machine_arn)
        CfnOutput(self, "StateMachineConsoleUrl", description="Start an execution here",
                  value=f"https://console.aws.amazon.com/states/home?region={Aws.REGION}"
                        f"#/statemachines/view/{state_machine_arn}")
        CfnOutput(self, "ExampleExecutionInput", value=json.dumps(EXAMPLE_INPUT, sort_keys=True),
                  description="Every key is optional; defaults come from cdk.json context")
        CfnOutput(self, "DashboardUrl",
                  value=f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
                        f"#dashboards:name={self.dashboard.dashboard_name}")
        if self.notebook is not None:
            CfnOutput(self, "NotebookUrl", value=self.notebook.console_url, condition=self.notebook_condition,
                      description="JupyterLab on the notebook instance (stops itself when idle)")
