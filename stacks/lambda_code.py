"""Lambda functions on the one asset, the package `lambdas`, each with its own role and log group."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.markers import lambda_part, mark
from stacks.paths import REPO_ROOT

# The asset is the repository root with everything but the package `lambdas` left out, so handlers are
# `lambdas.<package>.handler.<function>` (the names the stacks and tests import) and the asset hash covers the
# runtime code only. Caches and tests never belong in it (and would make the hash unstable).
ASSET_EXCLUDES = ["*", ".*", "!lambdas", "!lambdas/**", "**/__pycache__", "**/*.pyc", "**/.mypy_cache",
                  "**/.pytest_cache", "**/tests", "**/*.md"]
RUNTIME = lambda_.Runtime.PYTHON_3_14
DEFAULT_TIMEOUT = Duration.seconds(30)


class ProjectFunction(Construct):
    """A Lambda on the shared asset: explicit role (logs only to its own group) and a destroyable log group."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        handler: str,
        description: str,
        memory_mb: int = 256,
        timeout: Duration = DEFAULT_TIMEOUT,
        environment: dict[str, str] | None = None,
        ephemeral_storage_mb: int = 512,
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"shardlab Lambda {handler}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(REPO_ROOT), exclude=ASSET_EXCLUDES),
            handler=handler,
            description=description,
            memory_size=memory_mb,
            timeout=timeout,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb),
            environment=environment or {},
            role=self.role,
            log_group=self.log_group,
        )
        mark(self.function, lambda_part(handler))  # local mode and the tests find the project's Lambdas by it
        # Only its own log group: no AWSLambdaBasicExecutionRole (which allows every group in the account).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
