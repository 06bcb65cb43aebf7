"""Optional notebook instance: the project's notebooks in the home folder, stopped after idle time."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Aws, Duration, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import NOTEBOOK_ROOT
from stacks.names import sagemaker_arn

NOTEBOOK_VOLUME_GB = 10

# Runs as root on every start. Fn::Sub fills ${...}; the shell parts avoid braces on purpose.
ON_START_SCRIPT = r"""#!/bin/bash
# shardlab: copy the project's notebooks into the home folder (never overwriting edits), write the
# stack's names for them, and stop the instance once Jupyter has been idle for a while.
set -euo pipefail
PROJECT_DIR=/home/ec2-user/SageMaker/shardlab
mkdir -p $PROJECT_DIR
cat > $PROJECT_DIR/stack.json <<'JSON'
{"bucket": "${Bucket}", "stateMachineArn": "${StateMachineArn}",
 "resourcePrefix": "${ResourcePrefix}", "region": "${AWS::Region}"}
JSON
if [ -n "${NotebooksUri}" ]; then
  aws s3 cp --region ${AWS::Region} "${NotebooksUri}" /tmp/shardlab-notebooks.zip
  unzip -n -q /tmp/shardlab-notebooks.zip -d $PROJECT_DIR
  rm -f /tmp/shardlab-notebooks.zip
fi
chown -R ec2-user:ec2-user $PROJECT_DIR
cat > /usr/local/bin/shardlab-idle-stop.py <<'PY'
# Stop this notebook instance when Jupyter has had no activity for IDLE_MINUTES (cron, every 5 min).
import datetime, json, ssl, subprocess, sys, urllib.request

IDLE_MINUTES = ${IdleMinutes}
UTC = datetime.timezone.utc
context = ssl._create_unverified_context()  # Jupyter's own self-signed certificate on localhost


def jupyter(path):
    with urllib.request.urlopen("https://localhost:8443/api/" + path, context=context, timeout=10) as answer:
        return json.load(answer)


def parse(timestamp):
    return datetime.datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


kernels = jupyter("kernels")
if any(kernel.get("execution_state") == "busy" for kernel in kernels):
    sys.exit(0)
moments = [parse(k["last_activity"]) for k in kernels if k.get("last_activity")]
try:
    status = jupyter("status")  # server start and last activity (older Jupyter servers lack it)
except Exception:
    status = {}
moments += [parse(status[key]) for key in ("started", "last_activity") if status.get(key)]
if not moments:  # nothing reported: count from boot
    with open("/proc/uptime") as uptime:
        seconds_up = float(uptime.read().split()[0])
    moments.append(datetime.datetime.now(UTC) - datetime.timedelta(seconds=seconds_up))
if datetime.datetime.now(UTC) - max(moments) > datetime.timedelta(minutes=IDLE_MINUTES):
    with open("/opt/ml/metadata/resource-metadata.json") as metadata:
        name = json.load(metadata)["ResourceName"]
    subprocess.run(["aws", "sagemaker", "stop-notebook-instance", "--region", "${AWS::Region}",
                    "--notebook-instance-name", name], check=True)
PY
IDLE_JOB="/usr/bin/python3 /usr/local/bin/shardlab-idle-stop.py >> /var/log/shardlab-idle-stop.log 2>&1"
echo "*/5 * * * * $IDLE_JOB" | crontab -
"""


class NotebookInstance(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        resource_prefix: str,
        instance_type: str,
        idle_minutes: int,
        bucket_name: str,
        state_machine_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.notebook_name = f"{resource_prefix}-notebook"
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="shardlab notebook instance",
        )
        notebook_files = sorted(NOTEBOOK_ROOT.glob("*.ipynb")) if NOTEBOOK_ROOT.is_dir() else []
        notebooks_uri = ""
        if notebook_files:
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
            Validations.of(self.role).acknowledge(Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::*/"
                   f"{self.notebooks.s3_object_key}]",
                reason="read-only on the one notebooks asset object (content-hash key) in this account's buckets; "
                       "the CDK assets bucket's name is only known to the bootstrap stack",
            ))
            notebooks_uri = self.notebooks.s3_object_url
        self.volume_key = kms.Key(
            self, "VolumeKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7), description="shardlab notebook instance volume",
        )
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
            resources=[sagemaker_arn(stack, "training-job", resource_prefix),
                       sagemaker_arn(stack, "endpoint", resource_prefix)],
        ))
        Validations.of(self.role).acknowledge(Acknowledgment(
            id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:"
               f"<AWS::AccountId>:training-job/{resource_prefix}-*]",
            reason="training jobs are named <prefix>-<runId>-<branch> per execution, so no static name exists; "
                   "read-only (DescribeTrainingJob) and scoped to this stack's prefix",
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="NotebookLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[
                stack.format_arn(service="logs", resource="log-group", arn_format=ArnFormat.COLON_RESOURCE_NAME,
                                 resource_name="/aws/sagemaker/NotebookInstances"),
                stack.format_arn(
                    service="logs", resource="log-group", arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    resource_name=f"/aws/sagemaker/NotebookInstances:log-stream:{self.notebook_name}/*",
                ),
            ],
        ))
        script = Fn.sub(
            ON_START_SCRIPT,
            {
                "Bucket": bucket_name,
                "StateMachineArn": state_machine_arn,
                "ResourcePrefix": resource_prefix,
                "NotebooksUri": notebooks_uri,
                "IdleMinutes": str(idle_minutes),
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
        self.instance = sagemaker.CfnNotebookInstance(
            self,
            "Instance",
            notebook_instance_name=self.notebook_name,
            instance_type=instance_type,
            role_arn=self.role.role_arn,
            lifecycle_config_name=self.lifecycle.attr_notebook_instance_lifecycle_config_name,
            root_access="Disabled",
            kms_key_id=self.volume_key.key_id,
            volume_size_in_gb=NOTEBOOK_VOLUME_GB,
            direct_internet_access="Enabled",
            platform_identifier="notebook-al2-v3",
        )
        self.console_url = (
            f"https://console.aws.amazon.com/sagemaker/home?region={Aws.REGION}"
            f"#/notebook-instances/openNotebook/{self.notebook_name}?view=lab"
        )
