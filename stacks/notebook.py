"""Optional notebook instance (Amazon Linux 2023, IMDSv2): the project's notebooks in the home folder, stopped
after idle time by a systemd timer running notebook_instance/idle_stop.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.lambda_common.vocabulary import NOTEBOOK_LOG_GROUP
from stacks.acknowledgements import LOGS_ARN, RUNTIME_NAMES, S3_ARN, SAGEMAKER_ARN, STATES_ARN, ack, iam5
from stacks.names import executions_arn, log_group_arn, sagemaker_arn
from stacks.paths import NOTEBOOK_INSTANCE_ROOT, NOTEBOOK_ROOT
from stacks.sources import grant_source_read
from stacks.storage import DataBucket

NOTEBOOK_VOLUME_GB = 10
DIRECT_INTERNET_ACCESS = "Enabled"
MINIMUM_IMDS_VERSION = "2"

# Amazon Linux 2023 with JupyterLab 4 (AL2 platforms end support on 2026-06-30). Its kernels include conda_python3
# (Python 3.10), which the notebooks name; /usr/bin/python3 is the system Python 3.9. It has no cron: systemd.
PLATFORM_IDENTIFIER = "notebook-al2023-v1"
PLATFORM_KERNELS = {PLATFORM_IDENTIFIER: ("conda_python3", "conda_pytorch")}
IDLE_STOP_SOURCE = NOTEBOOK_INSTANCE_ROOT / "idle_stop.py"  # runtime code of the instance, not of the stack
IDLE_CHECK_MINUTES = 5

# Runs as root on every start (within SageMaker's 5 minutes: nothing here waits). Fn::Sub fills ${...}; the
# shell parts avoid braces on purpose. The system volume is fresh at every start, so everything is rewritten.
ON_START_SCRIPT = r"""#!/bin/bash
# shardlab: copy the project's notebooks into the home folder (never overwriting edits), write the
# stack's names for them, and stop the instance once Jupyter has been idle for a while.
set -euo pipefail
# --- find the AWS CLI: SageMaker runs this script with PATH=/sbin:bin:/usr/sbin:/usr/bin, and where the CLI
# lives differs between platform images. Without one the instance still starts (a failing script would fail
# the instance and roll the deploy back); the log says what is missing.
CONDA=/home/ec2-user/anaconda3
AWS_CLI_PLACES="/usr/local/bin /usr/bin /opt/conda/bin $CONDA/bin $CONDA/envs/JupyterSystemEnv/bin"
AWS_CLI=$(command -v aws || true)
for PLACE in $AWS_CLI_PLACES; do
  if [ -z "$AWS_CLI" ] && [ -x "$PLACE/aws" ]; then AWS_CLI=$PLACE/aws; fi
done
if [ -z "$AWS_CLI" ]; then
  echo "shardlab: no AWS CLI found on PATH ($PATH) or in $AWS_CLI_PLACES: the project's notebooks are" \
    "not copied and the instance will not stop itself when idle (stop it in the SageMaker console)" >&2
fi
# --- end of finding the AWS CLI
PROJECT_DIR=/home/ec2-user/SageMaker/shardlab
mkdir -p $PROJECT_DIR
cat > $PROJECT_DIR/stack.json <<'JSON'
{"bucket": "${Bucket}", "stateMachineArn": "${StateMachineArn}",
 "resourcePrefix": "${ResourcePrefix}", "region": "${AWS::Region}"}
JSON
if [ -n "${NotebooksUri}" ] && [ -n "$AWS_CLI" ]; then
  "$AWS_CLI" s3 cp --region ${AWS::Region} "${NotebooksUri}" /tmp/shardlab-notebooks.zip
  # The system Python is on every AL2023 image (unzip need not be). Files that exist (the user's edits) are kept.
  /usr/bin/python3 - /tmp/shardlab-notebooks.zip $PROJECT_DIR <<'PY'
import os, sys, zipfile
archive, target = sys.argv[1:]
with zipfile.ZipFile(archive) as notebooks:
    for member in notebooks.infolist():
        if not os.path.exists(os.path.join(target, member.filename)):
            notebooks.extract(member, target)
PY
  rm -f /tmp/shardlab-notebooks.zip
fi
chown -R ec2-user:ec2-user $PROJECT_DIR
cat > /usr/local/bin/shardlab-idle-stop <<'PY'
${IdleStopScript}
PY
chmod 755 /usr/local/bin/shardlab-idle-stop
cat > /etc/systemd/system/shardlab-idle-stop.service <<'UNIT'
[Unit]
Description=shardlab: stop this notebook instance after ${IdleMinutes} idle minutes
[Service]
Type=oneshot
RuntimeDirectory=shardlab-idle-stop
RuntimeDirectoryPreserve=yes
ExecStart=/usr/bin/python3 /usr/local/bin/shardlab-idle-stop --idle-minutes ${IdleMinutes} --region ${AWS::Region}
StandardOutput=append:/var/log/shardlab-idle-stop.log
UNIT
cat > /etc/systemd/system/shardlab-idle-stop.timer <<'UNIT'
[Unit]
Description=shardlab: check Jupyter for idleness every ${IdleCheckMinutes} minutes
[Timer]
OnActiveSec=${IdleCheckMinutes}min
OnUnitActiveSec=${IdleCheckMinutes}min
[Install]
WantedBy=timers.target
UNIT
mkdir -p /etc/systemd/system/shardlab-idle-stop.service.d
printf '[Service]\nEnvironment=SHARDLAB_AWS_CLI=%s\n' "$AWS_CLI" \
  > /etc/systemd/system/shardlab-idle-stop.service.d/aws-cli.conf
systemctl daemon-reload
if [ -n "$AWS_CLI" ]; then
  systemctl enable --now shardlab-idle-stop.timer
fi
"""


def notebook_instance_name(resource_prefix: str) -> str:
    """`<prefix>-notebook-<6 hex>`: the suffix hashes the properties CloudFormation can only change by replacing
    the instance (PlatformIdentifier, DirectInternetAccess, the metadata service version). CloudFormation
    refuses to replace a custom-named resource under the same name, so a change of any of them (an upgrade to a
    new platform) must come with a new name: the new instance is created, then the old one deleted."""
    replaced_on_change = json.dumps([PLATFORM_IDENTIFIER, DIRECT_INTERNET_ACCESS, MINIMUM_IMDS_VERSION])
    return f"{resource_prefix}-notebook-{hashlib.sha256(replaced_on_change.encode()).hexdigest()[:6]}"


def idle_stop_script() -> str:
    """The idle check as installed on the instance (it goes into Fn::Sub as a value, so braces are safe)."""
    source = IDLE_STOP_SOURCE.read_text()
    if "\nPY\n" in f"\n{source}\n":
        raise ValueError(f"{IDLE_STOP_SOURCE.name} must not contain a line 'PY' (the heredoc terminator)")
    return source.rstrip("\n")


class NotebookInstance(Construct):
    """The instance, its role (everything the notebooks do: read sources and run data, start and follow runs,
    score endpoints, stop itself) with the acknowledgements of that role's wildcards, and its volume key."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        resource_prefix: str,
        instance_type: str,
        idle_minutes: int,
        storage: DataBucket,
        source_locations: Sequence[str],
        state_machine_arn: str,
        state_machine_name: str,
    ) -> None:
        super().__init__(scope, id_)
        self._prefix = resource_prefix
        self.notebook_name = notebook_instance_name(resource_prefix)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="shardlab notebook instance",
        )
        notebooks_uri = self._copy_notebooks()
        self.volume_key = kms.Key(
            self, "VolumeKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7), description="shardlab notebook instance volume",
        )
        self._grant_instance()
        self._grant_runs(storage, source_locations, state_machine_arn, state_machine_name)
        script = Fn.sub(
            ON_START_SCRIPT,
            {
                "Bucket": storage.bucket.bucket_name,
                "StateMachineArn": state_machine_arn,
                "ResourcePrefix": resource_prefix,
                "NotebooksUri": notebooks_uri,
                "IdleMinutes": str(idle_minutes),
                "IdleCheckMinutes": str(IDLE_CHECK_MINUTES),
                "IdleStopScript": idle_stop_script(),
            },
        )
        self.lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            notebook_instance_lifecycle_config_name=f"{resource_prefix}-notebook-on-start",
            on_start=[sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                content=Fn.base64(script)
            )],
        )
        self.instance = self._instance(instance_type)
        self.console_url = (
            f"https://console.aws.amazon.com/sagemaker/home?region={Aws.REGION}"
            f"#/notebook-instances/openNotebook/{self.notebook_name}?view=lab"
        )

    def _copy_notebooks(self) -> str:
        """The notebooks asset's S3 URL (empty without notebooks), readable by the role."""
        notebook_files = sorted(NOTEBOOK_ROOT.glob("*.ipynb")) if NOTEBOOK_ROOT.is_dir() else []
        if not notebook_files:
            return ""
        self.notebooks = s3_assets.Asset(
            self, "Notebooks", path=str(NOTEBOOK_ROOT),
            exclude=["**/.ipynb_checkpoints", "**/__pycache__", "**/*.pyc"],
        )
        # The lifecycle script copies this one object (its key is a hash of the notebooks). Asset.grant_read
        # would allow s3:GetObject* and s3:List* on the whole CDK assets bucket; the bucket's name is an
        # Fn::Sub of the bootstrap qualifier, so the object is matched by key within this account instead.
        notebooks_object = f"arn:{Aws.PARTITION}:s3:::*/{self.notebooks.s3_object_key}"
        self.role.add_to_policy(iam.PolicyStatement(
            sid="CopyNotebooks", actions=["s3:GetObject"], resources=[notebooks_object],
            conditions={"StringEquals": {"s3:ResourceAccount": Aws.ACCOUNT_ID}},
        ))
        ack(self.role, iam5(f"{S3_ARN}*/{self.notebooks.s3_object_key}"),
            "read-only on the one notebooks asset object (content-hash key) in this account's buckets; "
            "the CDK assets bucket's name is only known to the bootstrap stack")
        return self.notebooks.s3_object_url

    def _grant_instance(self) -> None:
        """Stop itself when idle, describe the runs' jobs and endpoints, write its own logs."""
        stack = Stack.of(self)
        notebook_arn = stack.format_arn(service="sagemaker", resource="notebook-instance",
                                        resource_name=self.notebook_name)
        self.role.add_to_policy(iam.PolicyStatement(
            sid="StopWhenIdle",
            actions=["sagemaker:StopNotebookInstance", "sagemaker:DescribeNotebookInstance"],
            resources=[notebook_arn],
        ))
        # evaluate.ipynb reads the jobs' final metrics and checks whether a run kept its endpoints.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DescribeRunResources",
            actions=["sagemaker:DescribeTrainingJob", "sagemaker:DescribeEndpoint"],
            resources=[sagemaker_arn(stack, "training-job", self._prefix),
                       sagemaker_arn(stack, "endpoint", self._prefix)],
        ))
        ack(self.role, iam5(f"{SAGEMAKER_ARN}:training-job/{self._prefix}-*"),
            "training jobs are named <prefix>-<runId>-<branch> per execution, so no static name exists; "
            "read-only (DescribeTrainingJob) and scoped to this stack's prefix")
        ack(self.role, iam5(f"{SAGEMAKER_ARN}:endpoint/{self._prefix}-*"), RUNTIME_NAMES)
        log_streams = f"{NOTEBOOK_LOG_GROUP}:log-stream:{self.notebook_name}/*"
        self.role.add_to_policy(iam.PolicyStatement(
            sid="NotebookLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                log_group_arn(stack, NOTEBOOK_LOG_GROUP),
                log_group_arn(stack, log_streams),
            ],
        ))
        ack(self.role, iam5(f"{LOGS_ARN}:log-group:{log_streams}"),
            "SageMaker names the notebook's log streams <notebook>/<source>; limited to this notebook")

    def _grant_runs(self, storage: DataBucket, source_locations: Sequence[str], state_machine_arn: str,
                    state_machine_name: str) -> None:
        """What the notebooks do with runs: explore the sources, read run data, start and follow executions,
        score the endpoints a run kept."""
        stack = Stack.of(self)
        grant_source_read(self.role, source_locations, use="the notebook's exploratory analysis")
        storage.grant_run_data_read(self.role, runs_use="notebooks read run reports")
        storage.grant_browse(self.role)
        statements = [
            iam.PolicyStatement(sid="StartAndFollowRuns",
                                actions=["states:StartExecution", "states:ListExecutions"],
                                resources=[state_machine_arn]),
            iam.PolicyStatement(
                sid="ReadRuns", actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                resources=[executions_arn(stack, state_machine_name)],
            ),
            iam.PolicyStatement(sid="InvokeRunEndpoints", actions=["sagemaker:InvokeEndpoint"],
                                resources=[sagemaker_arn(stack, "endpoint", self._prefix)]),
        ]
        for statement in statements:
            self.role.add_to_principal_policy(statement)
        ack(self.role, iam5(f"{STATES_ARN}:execution:{state_machine_name}:*"),
            "notebooks follow executions of this stack's state machine only; execution names are chosen at start")

    def _instance(self, instance_type: str) -> sagemaker.CfnNotebookInstance:
        instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=self.notebook_name,
            instance_type=instance_type,
            role_arn=self.role.role_arn,
            lifecycle_config_name=self.lifecycle.attr_notebook_instance_lifecycle_config_name,
            root_access="Disabled",
            kms_key_id=self.volume_key.key_id,
            volume_size_in_gb=NOTEBOOK_VOLUME_GB,
            direct_internet_access=DIRECT_INTERNET_ACCESS,
            platform_identifier=PLATFORM_IDENTIFIER,
            # IMDSv2 only: credentials are handed out to session-token requests, never to a plain GET.
            instance_metadata_service_configuration=(
                sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                    minimum_instance_metadata_service_version=MINIMUM_IMDS_VERSION)
            ),
        )
        ack(instance, "AwsSolutions-SM1",
            "an optional teaching notebook that reads public data; a VPC with NAT for its internet access would "
            "add standing cost for no isolation benefit")
        ack(instance, "AwsSolutions-SM3",
            "the notebook reads the public GDELT bucket and installs packages; no VPC (see SM1), root access "
            "disabled, volume encrypted with a customer managed key")
        return instance
