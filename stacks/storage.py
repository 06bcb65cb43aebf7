"""The stack's bucket: prepared datasets (`datasets/`), run outputs (`runs/`).

Every permission on the bucket is granted by one of `DataBucket`'s grant methods, which also acknowledges the
wildcard it needs (the keys are chosen per dataset or per run) on the grantee, with the reason it is narrow.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.acknowledgements import ack, arn_of, iam5
from stacks.names import s3_object_arn

DATASETS_PREFIX = "datasets/"
RUNS_PREFIX = "runs/"
# Where training jobs write their model artifacts: runs/<runId>/training/<job>/output/.
MODEL_ARTIFACTS = f"{RUNS_PREFIX}*/training/*"
# Where SageMaker syncs a training job's checkpoints: runs/<runId>/checkpoints/<branch>/ (expires with the run).
CHECKPOINTS_FOLDER = "checkpoints"
CHECKPOINTS = f"{RUNS_PREFIX}*/{CHECKPOINTS_FOLDER}/*"

DATASETS_REASON = ("datasets are keyed by a hash of their parameters (datasets/<hash>/...), known only at run "
                   "time; limited to the datasets/ prefix of the stack's own bucket")
RUNS_REASON = ("run outputs live under runs/<runId>/, the run id is per execution; limited to runs/ of the "
               "stack's bucket")
CHECKPOINTS_REASON = ("SageMaker syncs a job's checkpoints with runs/<runId>/checkpoints/<branch>/ (per-execution "
                      "names); limited to the checkpoints/ folder of runs in the stack's bucket")
# A sweep's points each write their report under runs/<runId>/points/<point>/; the sweep report reads them all
# and writes its own files at runs/<runId>/.
POINT_REPORTS = f"{RUNS_PREFIX}*/points/*/report.json"
SWEEP_REPORT_FILES = tuple(f"{RUNS_PREFIX}*/{name}" for name in ("report.json", "report.md", "sweep.png"))
SWEEP_REASON = ("a sweep's point reports are runs/<runId>/points/<point>/report.json and its own report files "
                "runs/<runId>/{report.json,report.md,sweep.png} (per-execution run ids); limited to those names")
MODEL_ARTIFACTS_REASON = ("model artifacts are written to runs/<runId>/training/<job>/output/ (per-execution "
                          "names); limited to the training/ folder of runs in the stack's bucket")


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
        ack(self.bucket, "AwsSolutions-S1",
            "holds only re-creatable data (datasets derived from public GDELT, run reports) and is emptied on "
            "destroy; access logs would need a second bucket that outlives the stack")
        if not retain:
            self.auto_delete_logs = self._auto_delete_log_group()

    # --- grants (each adds one statement to the grantee and acknowledges its wildcard there) -------------------

    def _objects(self, key_pattern: str) -> str:
        return s3_object_arn(self.bucket.bucket_arn, key_pattern)

    def _ack_objects(self, grantee: iam.IRole, key_pattern: str, reason: str) -> None:
        ack(grantee, iam5(f"{arn_of(self.bucket)}/{key_pattern}"), reason)

    def grant_dataset_read(self, grantee: iam.IRole, *, sid: str = "ReadDatasets") -> None:
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid=sid, actions=["s3:GetObject"], resources=[self._objects(f"{DATASETS_PREFIX}*")]))
        self._ack_objects(grantee, f"{DATASETS_PREFIX}*", DATASETS_REASON)

    def grant_dataset_write(self, grantee: iam.IRole) -> None:
        """Write (and read back, delete, abort uploads of) dataset objects."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="WriteDatasets",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[self._objects(f"{DATASETS_PREFIX}*")],
        ))
        self._ack_objects(grantee, f"{DATASETS_PREFIX}*", DATASETS_REASON)

    def grant_dataset_list(self, grantee: iam.IRole) -> None:
        self._grant_list(grantee, sid="ListDatasets", prefixes=[DATASETS_PREFIX])

    def grant_model_artifacts(self, grantee: iam.IRole) -> None:
        """Write and read back the model artifacts of a run's training jobs."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="WriteAndReadModelArtifacts", actions=["s3:PutObject", "s3:GetObject"],
            resources=[self._objects(MODEL_ARTIFACTS)],
        ))
        self._ack_objects(grantee, MODEL_ARTIFACTS, MODEL_ARTIFACTS_REASON)

    def grant_checkpoints(self, grantee: iam.IRole) -> None:
        """SageMaker's checkpoint sync: write, read back, delete and list a run's checkpoints."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="SyncCheckpoints", actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            resources=[self._objects(CHECKPOINTS)],
        ))
        self._ack_objects(grantee, CHECKPOINTS, CHECKPOINTS_REASON)
        self._grant_list(grantee, sid="ListCheckpoints", prefixes=[RUNS_PREFIX])

    def grant_report_write(self, grantee: iam.IRole) -> None:
        """Write (and read back) a run's outputs under runs/<runId>/."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="WriteReport", actions=["s3:PutObject", "s3:GetObject"], resources=[self._objects(f"{RUNS_PREFIX}*")],
        ))
        self._ack_objects(grantee, f"{RUNS_PREFIX}*", RUNS_REASON)

    def grant_sweep_report(self, grantee: iam.IRole) -> None:
        """Read every point's report.json; write (and read back) the sweep's report files; list runs/ (a
        missing point report is then a 404, not a 403)."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="ReadPointReports", actions=["s3:GetObject"], resources=[self._objects(POINT_REPORTS)],
        ))
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="WriteSweepReport", actions=["s3:PutObject", "s3:GetObject"],
            resources=[self._objects(pattern) for pattern in SWEEP_REPORT_FILES],
        ))
        for pattern in (POINT_REPORTS, *SWEEP_REPORT_FILES):
            self._ack_objects(grantee, pattern, SWEEP_REASON)
        self._grant_list(grantee, sid="ListRuns", prefixes=[RUNS_PREFIX])

    def grant_run_data_list(self, grantee: iam.IRole) -> None:
        """List datasets/ and runs/ (so a missing key is a 404, not a 403)."""
        self._grant_list(grantee, sid="ListRunData", prefixes=[DATASETS_PREFIX, RUNS_PREFIX])

    def grant_run_data_read(self, grantee: iam.IRole, *, runs_use: str) -> None:
        """Read datasets and run outputs; `runs_use` says what the grantee reads runs/ for."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="ReadRunData", actions=["s3:GetObject"],
            resources=[self._objects(f"{DATASETS_PREFIX}*"), self._objects(f"{RUNS_PREFIX}*")],
        ))
        self._ack_objects(grantee, f"{DATASETS_PREFIX}*", DATASETS_REASON)
        self._ack_objects(grantee, f"{RUNS_PREFIX}*", f"{runs_use}; {RUNS_REASON}")

    def grant_browse(self, grantee: iam.IRole) -> None:
        """List the whole bucket (the notebooks browse it)."""
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid="ListRunData", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]))

    def _grant_list(self, grantee: iam.IRole, *, sid: str, prefixes: list[str]) -> None:
        grantee.add_to_principal_policy(iam.PolicyStatement(
            sid=sid, actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        ))

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
