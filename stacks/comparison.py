"""The compare Lambda (`compare.handler.handler`): scores the test year on both endpoints, writes the report, puts
the comparison's metrics; it reads the dataset and writes under the run's prefix. And the sweep-report Lambda
(`compare.handler.sweep_report`): reads a sweep's point reports, writes the sweep's report and picture."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.acknowledgements import RUNTIME_NAMES, SAGEMAKER_ARN, ack, iam5
from stacks.lambda_code import ProjectFunction
from stacks.names import sagemaker_arn
from stacks.storage import DataBucket

# Lambda's maximum; also the scoring bound of the pre-flight's worst-case cost (lambdas.preflight.cost_ceiling).
COMPARE_TIMEOUT_SECONDS = 900


class CompareFunction(ProjectFunction):
    def __init__(self, scope: Construct, id_: str, *, storage: DataBucket, resource_prefix: str,
                 metrics_namespace: str, environment: dict[str, str]) -> None:
        super().__init__(
            scope, id_, handler="lambdas.compare.handler.handler",
            description="shardlab: score the test year on both endpoints, write the report, put metrics",
            memory_mb=2048, timeout=Duration.seconds(COMPARE_TIMEOUT_SECONDS),
            environment={**environment, "SHARDLAB_METRICS_NAMESPACE": metrics_namespace},
        )
        stack = Stack.of(self)
        storage.grant_dataset_read(self.role, sid="ReadTestData")
        storage.grant_report_write(self.role)
        storage.grant_run_data_list(self.role)
        statements = [
            iam.PolicyStatement(sid="ScoreEndpoints",
                                actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                                resources=[sagemaker_arn(stack, "endpoint", resource_prefix)]),
            iam.PolicyStatement(sid="ReadTrainingFigures", actions=["sagemaker:DescribeTrainingJob"],
                                resources=[sagemaker_arn(stack, "training-job", resource_prefix)]),
            iam.PolicyStatement(
                sid="ReadSageMakerPrices",  # the Price List API supports no resource-level permissions
                actions=["pricing:GetProducts"], resources=["*"],
            ),
            iam.PolicyStatement(
                sid="PutComparisonMetrics",  # PutMetricData has no resource-level permissions
                actions=["cloudwatch:PutMetricData"], resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)
        for resource_type in ("endpoint", "training-job"):
            ack(self.role, iam5(f"{SAGEMAKER_ARN}:{resource_type}/{resource_prefix}-*"), RUNTIME_NAMES)
        ack(self.role, iam5("*"),
            f"cloudwatch:PutMetricData (conditioned on the {metrics_namespace} namespace) and pricing:GetProducts "
            "(read-only public prices, ServiceCode AmazonSageMaker) support no resource-level permissions")


# Reads at most 24 small point reports and draws one picture (stdlib PNG): well inside a minute.
SWEEP_REPORT_TIMEOUT_SECONDS = 120


class SweepReportFunction(ProjectFunction):
    def __init__(self, scope: Construct, id_: str, *, storage: DataBucket, environment: dict[str, str]) -> None:
        super().__init__(
            scope, id_, handler="lambdas.compare.handler.sweep_report",
            description="shardlab: read a sweep's point reports; write its report, picture and recommendation",
            memory_mb=512, timeout=Duration.seconds(SWEEP_REPORT_TIMEOUT_SECONDS), environment=environment,
        )
        storage.grant_sweep_report(self.role)
