"""cdk-nag (AwsSolutions) findings this stack accepts, each with the reason it is acceptable.

Findings are acknowledged one by one (cdk-nag v3 ids `AwsSolutions::<rule>[<finding>]`) on the construct
that owns them, so a new wildcard anywhere else still fails `cdk synth` and the nag test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import Construct, IConstruct

from stacks.names import SAGEMAKER_RUNTIME_TYPES
from workflow_input.config import parse_source_location

if TYPE_CHECKING:
    from stacks.shardlab_stack import ShardlabStack

PACK = "AwsSolutions::"
SAGEMAKER_ARN = "arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
LOGS_ARN = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
STATES_ARN = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"

RUNTIME_NAMES = (
    "runtime SageMaker resources are named <prefix>-<runId>-<branch> per execution, so no static name exists; "
    "scoped to this stack's prefix, the narrowest pattern AWS allows"
)


def ack(scope: Construct, finding: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=PACK + finding, reason=reason))


def _logical_id(construct: IConstruct) -> str:
    child = construct.node.default_child
    element = child if isinstance(child, CfnElement) else construct
    assert isinstance(element, CfnElement)
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(element)))


def _arn_of(function: IConstruct) -> str:
    return f"<{_logical_id(function)}.Arn>"


def _iam5(resource: str) -> str:
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def acknowledge_findings(stack: ShardlabStack) -> None:
    prefix = stack.settings.resource_prefix
    bucket = f"<{_logical_id(stack.storage.bucket)}.Arn>"
    sources = [parse_source_location(location) for location in stack.settings.source_locations]
    datasets = _iam5(f"{bucket}/datasets/*")
    datasets_reason = ("datasets are keyed by a hash of their parameters (datasets/<hash>/...), known only at run "
                       "time; limited to the datasets/ prefix of the stack's own bucket")
    runs_reason = ("run outputs live under runs/<runId>/, the run id is per execution; limited to runs/ of the "
                   "stack's bucket")
    gdelt = [_iam5(f"arn:<AWS::Partition>:s3:::{bucket}/{prefix}*") for bucket, prefix in sources]
    gdelt_reason = ("read-only on the source locations of cdk.json shardlab:sourceLocations (by default the public "
                    "gdelt-open-data/events/ yearly files); the objects are chosen per run")
    sagemaker_types = SAGEMAKER_RUNTIME_TYPES

    ack(stack.storage.bucket, "AwsSolutions-S1",
        "holds only re-creatable data (datasets derived from public GDELT, run reports) and is emptied on destroy; "
        "access logs would need a second bucket that outlives the stack")

    sm_role = stack.sagemaker_role.role
    ack(sm_role, datasets, datasets_reason)
    ack(sm_role, _iam5(f"{bucket}/runs/*/training/*"),
        "model artifacts are written to runs/<runId>/training/<job>/output/ (per-execution names); limited to the "
        "training/ folder of runs in the stack's bucket")
    ack(sm_role, _iam5("*"),
        "ecr:GetAuthorizationToken and cloudwatch:PutMetricData (conditioned on the /aws/sagemaker/* namespace) "
        "support no resource-level permissions")
    ack(sm_role, _iam5(f"{LOGS_ARN}:log-group:/aws/sagemaker/TrainingJobs:*"),
        "SageMaker writes one log stream per training job host (<job>/algo-N-...) to this fixed group")
    ack(sm_role, _iam5(f"{LOGS_ARN}:log-group:/aws/sagemaker/Endpoints/{prefix}-*"),
        "SageMaker writes endpoint logs to /aws/sagemaker/Endpoints/<endpoint>; " + RUNTIME_NAMES)

    prep = stack.data_preparation
    for function in (prep.profile, prep.shard, prep.finalize):
        ack(function.role, datasets, datasets_reason)
    for function in (prep.profile, prep.shard):
        for finding in gdelt:
            ack(function.role, finding, gdelt_reason)

    ack(stack.quota_check.role, _iam5("*"),
        "servicequotas:ListServiceQuotas/ListAWSDefaultServiceQuotas support no resource-level permissions; "
        "read-only, called with ServiceCode sagemaker by the pre-flight")

    compare_role = stack.compare.role
    ack(compare_role, datasets, datasets_reason)
    ack(compare_role, _iam5(f"{bucket}/runs/*"), runs_reason)
    ack(compare_role, _iam5("*"),
        f"cloudwatch:PutMetricData supports no resource-level permissions; conditioned on the "
        f"{stack.settings.metrics_namespace} namespace")
    for resource_type in ("endpoint", "training-job"):
        ack(compare_role, _iam5(f"{SAGEMAKER_ARN}:{resource_type}/{prefix}-*"), RUNTIME_NAMES)

    run_cleanup_role = stack.run_cleanup.function.role
    guard_roles = [stack.guard.on_event.role, stack.guard.is_complete.role]
    for role in [run_cleanup_role, *guard_roles]:
        for resource_type in sagemaker_types:
            ack(role, _iam5(f"{SAGEMAKER_ARN}:{resource_type}/{prefix}-*"), RUNTIME_NAMES)
        ack(role, _iam5(f"{LOGS_ARN}:log-group:/aws/sagemaker/Endpoints/{prefix}-*"),
            "deletes the log groups SageMaker made for the run's endpoints (named after them); " + RUNTIME_NAMES)
        ack(role, _iam5(f"{LOGS_ARN}:log-group:/aws/sagemaker/TrainingJobs:*"),
            "DescribeLogStreams only: finds the run's streams in SageMaker's shared group by name prefix")
        ack(role, _iam5(f"{LOGS_ARN}:log-group:/aws/sagemaker/TrainingJobs:log-stream:{prefix}-*"),
            "deletes the streams SageMaker wrote for the run's jobs (<job>/algo-N-...); " + RUNTIME_NAMES)
    for role in guard_roles:
        ack(role, _iam5("*"),
            "sagemaker:ListTrainingJobs/ListEndpoints/ListEndpointConfigs/ListModels support no resource-level "
            "permissions; results are filtered by name prefix and the shardlab:stack tag before any change")
        ack(role, _iam5(f"{STATES_ARN}:execution:{stack.state_machine_name}:*"),
            "stops running executions of this stack's state machine only; execution names are chosen at start")

    state_machine = stack.pipeline.state_machine
    for resource_type in sagemaker_types:
        ack(state_machine, _iam5(f"{SAGEMAKER_ARN}:{resource_type}/{prefix}-*"), RUNTIME_NAMES)
    ack(state_machine, _iam5("*"),
        "X-Ray tracing (xray:PutTraceSegments etc.) and CloudWatch Logs delivery (logs:CreateLogDelivery etc.) "
        "support no resource-level permissions (statements added by CDK for tracing and logging)")
    functions = [stack.workflow_input, prep.profile, prep.shard, prep.finalize, stack.compare,
                 stack.run_cleanup.function, stack.quota_check]
    for project_function in functions:
        ack(state_machine, _iam5(f"{_arn_of(project_function.function)}:*"),
            "CDK's LambdaInvoke grant covers the function's versions/aliases (<arn>:*) of this one function")

    provider = stack.guard.provider
    guard_functions = [stack.guard.on_event.function, stack.guard.is_complete.function]
    framework_reason = ("aws-cdk-lib custom-resource Provider framework internals (not configurable); it only "
                        "invokes this stack's clean-up guard functions")
    ack(provider, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                  "AWSLambdaBasicExecutionRole]", framework_reason)
    for guard_function in guard_functions:
        ack(provider, _iam5(f"{_arn_of(guard_function)}:*"), framework_reason)
    for name in ("framework-isComplete", "framework-onTimeout"):
        framework_function = provider.node.find_child(name)
        ack(provider, _iam5(f"<{_logical_id(framework_function)}.Arn>:*"), framework_reason)
    ack(provider, "AwsSolutions-SF1", framework_reason + "; each poll is logged by the isComplete function")
    ack(provider, "AwsSolutions-SF2", framework_reason + "; tracing cannot be enabled on the waiter state machine")

    if stack.notebook is not None:
        notebook = stack.notebook
        ack(notebook.role, datasets, datasets_reason)
        ack(notebook.role, _iam5(f"{bucket}/runs/*"), "notebooks read run reports; " + runs_reason)
        for finding in gdelt:
            ack(notebook.role, finding, gdelt_reason + " (the notebook's exploratory analysis)")
        ack(notebook.role, _iam5(f"{SAGEMAKER_ARN}:endpoint/{prefix}-*"), RUNTIME_NAMES)
        ack(notebook.role, _iam5(f"{STATES_ARN}:execution:{stack.state_machine_name}:*"),
            "notebooks follow executions of this stack's state machine only; execution names are chosen at start")
        ack(notebook.role, _iam5(f"{LOGS_ARN}:log-group:/aws/sagemaker/NotebookInstances:log-stream:"
                                 f"{notebook.notebook_name}/*"),
            "SageMaker names the notebook's log streams <notebook>/<source>; limited to this notebook")
        ack(notebook.instance, "AwsSolutions-SM1",
            "an optional teaching notebook that reads public data; a VPC with NAT for its internet access would "
            "add standing cost for no isolation benefit")
        ack(notebook.instance, "AwsSolutions-SM3",
            "the notebook reads the public GDELT bucket and installs packages; no VPC (see SM1), root access "
            "disabled, volume encrypted with a customer managed key")
