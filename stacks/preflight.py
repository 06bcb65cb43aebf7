"""The pre-flight Lambda (`lambdas.preflight.handler.handler`): SageMaker instance quotas vs. the run's need, and the
run's worst-case cost (Price List prices) vs. `maxCostUsd`."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.acknowledgements import ack, iam5
from stacks.lambda_code import ProjectFunction


class QuotaCheck(ProjectFunction):
    def __init__(self, scope: Construct, id_: str) -> None:
        super().__init__(
            scope, id_, handler="lambdas.preflight.handler.handler",
            description="shardlab: SageMaker instance quotas vs. the run's need; worst-case cost vs. maxCostUsd",
            timeout=Duration.seconds(60),
        )
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadSageMakerQuotas",  # List* of Service Quotas support no resource-level permissions
            actions=["servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"],
            resources=["*"],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadSageMakerPrices",  # the Price List API supports no resource-level permissions
            actions=["pricing:GetProducts"], resources=["*"],
        ))
        ack(self.role, iam5("*"),
            "servicequotas:ListServiceQuotas/ListAWSDefaultServiceQuotas and pricing:GetProducts support no "
            "resource-level permissions; read-only, called with ServiceCode sagemaker / AmazonSageMaker by the "
            "pre-flight")
