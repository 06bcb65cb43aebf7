"""The shardlab stack: creates the constructs and wires them together.

The rule `stacks/` follows: **a construct owns its permissions and its cdk-nag acknowledgements; the stack only
wires across constructs.** The stack hands each construct the constructs it uses (the bucket, the SageMaker
role's ARN, the state machine's ARN and name); a construct grants its own roles what they need, reaching another
construct's resources only through that construct's grant methods (`DataBucket.grant_*`), and acknowledges
each cdk-nag finding beside the statement or resource it excuses (`stacks/acknowledgements.py` has the helper).
What the stack itself does across constructs: the deletion order on `cdk destroy`, the region rule and
condition, the dashboard and the outputs.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, CfnCondition, CfnOutput, CfnRule, CfnRuleAssertion, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from lambdas.lambda_common.vocabulary import (
    BILLABLE_INSTANCE_SECONDS,
    METRIC_DIMENSIONS,
    NAIVE_BASELINE,
    SHARDED_BY_S3_KEY,
    TEST_MSE,
    TRAINING_SPEED_UP,
    TRAINING_TIME,
)
from lambdas.workflow_input.schema import DEFAULTS as EXECUTION_DEFAULTS
from stacks.cleanup import CleanupGuard, RunCleanup
from stacks.comparison import CompareFunction, SweepReportFunction
from stacks.config import ShardlabSettings
from stacks.data_preparation import DataPreparation
from stacks.lambda_code import ProjectFunction
from stacks.notebook import NotebookInstance
from stacks.preflight import QuotaCheck
from stacks.regions import notebook_supported_here, only_where_notebooks_exist
from stacks.storage import DataBucket
from stacks.training import LINEAR_LEARNER_ACCOUNTS, LinearLearnerImage, SageMakerExecutionRole
from stacks.workflow import Pipeline, PipelineFunctions

# The stack output's example: the schema's defaults of the keys a first run most often changes.
# A new account's "Number of instances across all training jobs" is 4 by default; the run trains two jobs at
# once, so the first run's example uses 2 instances each (README "Run it": raise the quota, then scale up).
NEW_ACCOUNT_TRAINING_INSTANCES = 4
FIRST_RUN_INSTANCE_COUNT = 2
EXAMPLE_INPUT = {**{key: EXECUTION_DEFAULTS[key] for key in ("trainYears", "testYear", "keepEndpoints")},
                 "instanceCount": FIRST_RUN_INSTANCE_COUNT}


class ShardlabStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, settings: ShardlabSettings, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        prefix = settings.resource_prefix
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
        self.sagemaker_role = SageMakerExecutionRole(self, "SageMakerExecution", storage=self.storage,
                                                     image=self.image, resource_prefix=prefix)

        common_env = {"SHARDLAB_BUCKET": bucket.bucket_name, "SHARDLAB_PREFIX": prefix}
        self.workflow_input = ProjectFunction(
            self, "WorkflowInput", handler="lambdas.workflow_input.handler.handler",
            description="shardlab: apply defaults to the execution input, validate it, derive names",
            timeout=Duration.seconds(10),
            environment={**common_env, "SHARDLAB_DEFAULTS": json.dumps(settings.defaults, sort_keys=True),
                         "SHARDLAB_SOURCE_LOCATIONS": json.dumps(list(settings.source_locations))},
        )
        self.data_preparation = DataPreparation(self, "DataPreparation", environment=common_env,
                                                storage=self.storage, source_locations=settings.source_locations)
        self.compare = CompareFunction(self, "Compare", storage=self.storage, resource_prefix=prefix,
                                       metrics_namespace=settings.metrics_namespace, environment=common_env)
        self.sweep_report = SweepReportFunction(self, "SweepReport", storage=self.storage, environment=common_env)
        self.run_cleanup = RunCleanup(self, "RunCleanup", resource_prefix=prefix)
        self.quota_check = QuotaCheck(self, "QuotaCheck")

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
                sweep_report=self.sweep_report.function,
            ),
            sagemaker_role_arn=self.sagemaker_role.role.role_arn,
            image_uri=self.image.image_uri,
            resource_prefix=prefix,
            state_machine_name=self.state_machine_name,
            shard_concurrency=settings.shard_concurrency,
        )
        state_machine = self.pipeline.state_machine

        self.guard = CleanupGuard(self, "CleanupGuard", resource_prefix=prefix,
                                  state_machine_arn=state_machine.state_machine_arn,
                                  state_machine_name=self.state_machine_name)
        self._delete_guard_first()

        self.notebook: NotebookInstance | None = None
        self.notebook_condition: CfnCondition | None = None
        if settings.notebook and notebook_supported_here(self):
            self.notebook = NotebookInstance(
                self, "Notebook", resource_prefix=prefix, instance_type=settings.notebook_instance_type,
                idle_minutes=settings.notebook_idle_minutes, storage=self.storage,
                source_locations=settings.source_locations, state_machine_arn=state_machine.state_machine_arn,
                state_machine_name=self.state_machine_name,
            )
            self.notebook_condition = only_where_notebooks_exist(self.notebook)

        self._dashboard(prefix, settings.metrics_namespace)
        self._outputs(bucket.bucket_name, state_machine.state_machine_arn)

    def _delete_guard_first(self) -> None:
        """Deleted first on `cdk destroy`: runs are stopped while their roles and bucket still exist, and the
        bucket is emptied only after stopped training jobs (which may still save artifacts) have ended."""
        bucket = self.storage.bucket
        bucket_resource = bucket.node.default_child
        assert bucket_resource is not None
        self.guard.resource.node.add_dependency(bucket_resource, self.sagemaker_role)
        auto_delete = bucket.node.try_find_child("AutoDeleteObjectsCustomResource")
        if auto_delete is not None:
            auto_delete.node.add_dependency(self.guard.resource)

    # --- dashboard and outputs -------------------------------------------------------------------------

    def _dashboard(self, prefix: str, namespace: str) -> None:
        """The compare Lambda's metrics, searched across runs by their dimensions."""
        schema = ",".join((namespace, *METRIC_DIMENSIONS))

        def search(metric: str, statistic: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{{{schema}}} MetricName=\"{metric}\"', '{statistic}', 86400)",
                using_metrics={}, label="", period=Duration.days(1),
            )

        widgets = [
            (f"Test MSE (lower is better; {NAIVE_BASELINE} = predict the training mean)", TEST_MSE),
            ("Training time (s)", TRAINING_TIME),
            ("Billable instance-seconds", BILLABLE_INSTANCE_SECONDS),
            (f"Training speed-up of {SHARDED_BY_S3_KEY}", TRAINING_SPEED_UP),
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
                  description=("Every key is optional; defaults: README's execution-input table, "
                               "overridden by cdk.json shardlab:executionDefaults"))
        CfnOutput(self, "DashboardUrl",
                  value=f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
                        f"#dashboards:name={self.dashboard.dashboard_name}")
        if self.notebook is not None:
            CfnOutput(self, "NotebookUrl", value=self.notebook.console_url, condition=self.notebook_condition,
                      description="JupyterLab on the notebook instance (stops itself when idle)")
