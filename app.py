"""The shardlab CDK app: one ShardlabStack, configured from cdk.json context, checked by cdk-nag."""

from __future__ import annotations

import aws_cdk as cdk
import cdk_nag

from stacks.config import settings_from_context
from stacks.shardlab_stack import ShardlabStack


def build_app(app: cdk.App) -> ShardlabStack:
    settings = settings_from_context(app)
    return ShardlabStack(app, settings.stack_name, settings=settings,
                         description="shardlab: GDELT Linear Learner, FullyReplicated vs ShardedByS3Key")


def add_checks(app: cdk.App) -> None:
    """cdk-nag AwsSolutions: synthesis fails on any finding its construct does not acknowledge (docs/ARCHITECTURE.md
    "Stack rule")."""
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))


if __name__ == "__main__":
    app = cdk.App()
    build_app(app)
    add_checks(app)
    app.synth()
