"""The stack's bucket: prepared datasets (`datasets/`), run outputs (`runs/`)."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

DATASETS_PREFIX = "datasets/"
RUNS_PREFIX = "runs/"


class DataBucket(Construct):
    def __init__(self, scope: Construct, id_: str, *, retain: bool, run_data_expiration_days: int) -> None:
        super().__init__(scope, id_)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldRuns",
                    prefix=RUNS_PREFIX,
                    expiration=Duration.days(run_data_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    prefix=DATASETS_PREFIX,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )
        if not retain:
            self.auto_delete_logs = self._auto_delete_log_group()

    def _auto_delete_log_group(self) -> logs.LogGroup:
        """CDK's bucket-emptying provider would log to an implicit /aws/lambda/<name> group that outlives
        `cdk destroy`; give it a destroyable group (deleted after the function: the function references it)."""
        stack = Stack.of(self)
        provider = stack.node.find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
        handler = provider.node.find_child("Handler")
        assert isinstance(handler, CfnResource)
        log_group = logs.LogGroup(self, "AutoDeleteObjectsLogs", retention=logs.RetentionDays.ONE_MONTH,
                                  removal_policy=RemovalPolicy.DESTROY)
        handler.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name})
        return log_group
