"""Clean-up: the pipeline's per-run clean-up Lambda and the stack's clean-up guard (custom resource).

The guard's Delete runs before anything else of the stack is deleted (it depends on the rest): it stops
running executions, stops the stack's training jobs and deletes its endpoints (waiting until they are
gone), endpoint configs and models, so `cdk destroy` leaves nothing that costs money; then SageMaker's own
logs of those runs (the endpoints' log groups, the jobs' streams in the shared TrainingJobs group).
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from lambdas.lambda_common.vocabulary import ENDPOINT_LOG_GROUP_PREFIX, STACK_TAG, TRAINING_LOG_GROUP
from stacks.acknowledgements import LOGS_ARN, RUNTIME_NAMES, SAGEMAKER_ARN, STATES_ARN, ack, arn_of, iam5
from stacks.lambda_code import ProjectFunction
from stacks.names import SAGEMAKER_RUNTIME_TYPES, executions_arn, log_group_arn, sagemaker_arn

GUARD_POLL_INTERVAL = Duration.seconds(30)
# CloudFormation fails a custom resource that has not answered within its ServiceTimeout (at most 3600 s), so
# the Provider framework's own total timeout (up to 2 h) must end first: the guard then fails with the list of
# what is still pending (e.g. an endpoint stuck in Creating, which can only be deleted once it fails, about an
# hour), the stack goes to DELETE_FAILED, and a later `cdk destroy` starts the guard again (README "Clean-up").
# The whole Delete is one onEvent call, the waiter's polls for GUARD_TIMEOUT, and a last isComplete call in flight;
# a pass bounds its own work (lambdas.cleanup.sagemaker_cleanup.PASS_LOG_BUDGET_SECONDS), so each call ends well within
# GUARD_FUNCTION_MINUTES. What is left of the hour is the margin for the framework's own invocations.
GUARD_SERVICE_MINUTES = 60
GUARD_FUNCTION_MINUTES = 3
GUARD_MARGIN_MINUTES = 4
GUARD_SERVICE_TIMEOUT = Duration.minutes(GUARD_SERVICE_MINUTES)
GUARD_TIMEOUT = Duration.minutes(GUARD_SERVICE_MINUTES - 2 * GUARD_FUNCTION_MINUTES - GUARD_MARGIN_MINUTES)


def _run_resource_statements(stack: Stack, prefix: str) -> list[iam.PolicyStatement]:
    return [
        # SageMaker creates these itself and never deletes them; the endpoint's group is named after it.
        iam.PolicyStatement(
            sid="DeleteRunEndpointLogs",
            actions=["logs:DeleteLogGroup"],
            resources=[log_group_arn(stack, f"{ENDPOINT_LOG_GROUP_PREFIX}{prefix}-*")],
        ),
        # The TrainingJobs group is shared by every job of the account: list it, delete only this
        # prefix's streams (`<job name>/algo-<host>-<epoch>`; DeleteLogStream is authorized per stream).
        iam.PolicyStatement(
            sid="FindRunTrainingLogs",
            actions=["logs:DescribeLogStreams"],
            resources=[log_group_arn(stack, TRAINING_LOG_GROUP), log_group_arn(stack, f"{TRAINING_LOG_GROUP}:*")],
        ),
        iam.PolicyStatement(
            sid="DeleteRunTrainingLogs",
            actions=["logs:DeleteLogStream"],
            resources=[log_group_arn(stack, f"{TRAINING_LOG_GROUP}:log-stream:{prefix}-*")],
        ),
        iam.PolicyStatement(
            sid="StopRunTrainingJobs",
            actions=["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
            resources=[sagemaker_arn(stack, "training-job", prefix)],
        ),
        iam.PolicyStatement(
            sid="StopRunTransformJobs",
            actions=["sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
            resources=[sagemaker_arn(stack, "transform-job", prefix)],
        ),
        iam.PolicyStatement(
            sid="DeleteRunEndpoints",
            actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"],
            resources=[sagemaker_arn(stack, "endpoint", prefix)],
        ),
        iam.PolicyStatement(
            sid="DeleteRunEndpointConfigs",
            actions=["sagemaker:DeleteEndpointConfig"],
            resources=[sagemaker_arn(stack, "endpoint-config", prefix)],
        ),
        iam.PolicyStatement(
            sid="DeleteRunModels",
            actions=["sagemaker:DeleteModel"],
            resources=[sagemaker_arn(stack, "model", prefix)],
        ),
    ]


def _acknowledge_run_resources(role: iam.IRole, prefix: str) -> None:
    """The wildcards of `_run_resource_statements`."""
    for resource_type in SAGEMAKER_RUNTIME_TYPES:
        ack(role, iam5(f"{SAGEMAKER_ARN}:{resource_type}/{prefix}-*"), RUNTIME_NAMES)
    ack(role, iam5(f"{LOGS_ARN}:log-group:{ENDPOINT_LOG_GROUP_PREFIX}{prefix}-*"),
        "deletes the log groups SageMaker made for the run's endpoints (named after them); " + RUNTIME_NAMES)
    ack(role, iam5(f"{LOGS_ARN}:log-group:{TRAINING_LOG_GROUP}:*"),
        "DescribeLogStreams only: finds the run's streams in SageMaker's shared group by name prefix")
    ack(role, iam5(f"{LOGS_ARN}:log-group:{TRAINING_LOG_GROUP}:log-stream:{prefix}-*"),
        "deletes the streams SageMaker wrote for the run's jobs (<job>/algo-N-...); " + RUNTIME_NAMES)


class RunCleanup(Construct):
    """`lambdas.cleanup.handler.run_cleanup`: one run's resources, by exact name."""

    def __init__(self, scope: Construct, id_: str, *, resource_prefix: str) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.function = ProjectFunction(
            self, "Function", handler="lambdas.cleanup.handler.run_cleanup",
            description="shardlab: stop/delete one run's training jobs, endpoints, endpoint configs, models, and "
                        "SageMaker's logs of them",
            timeout=Duration.minutes(2),
        )
        for statement in _run_resource_statements(stack, resource_prefix):
            self.function.role.add_to_policy(statement)
        _acknowledge_run_resources(self.function.role, resource_prefix)


class CleanupGuard(Construct):
    """Custom resource whose Delete removes everything the stack's runs left (by prefix and stack tag)."""

    def __init__(self, scope: Construct, id_: str, *, resource_prefix: str, state_machine_arn: str,
                 state_machine_name: str) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        environment = {"SHARDLAB_PREFIX": resource_prefix, "SHARDLAB_STATE_MACHINE_ARN": state_machine_arn}
        self.on_event = ProjectFunction(
            self, "OnEvent", handler="lambdas.cleanup.handler.on_event",
            description="shardlab clean-up guard: starts the clean-up when the stack is deleted",
            timeout=Duration.minutes(GUARD_FUNCTION_MINUTES), environment=environment,
        )
        self.is_complete = ProjectFunction(
            self, "IsComplete", handler="lambdas.cleanup.handler.is_complete",
            description="shardlab clean-up guard: repeats the clean-up until nothing of the stack remains",
            timeout=Duration.minutes(GUARD_FUNCTION_MINUTES), environment=environment,
        )
        statements = [
            *_run_resource_statements(stack, resource_prefix),
            iam.PolicyStatement(
                sid="FindStackResources",  # SageMaker List* calls have no resource-level permissions
                actions=["sagemaker:ListTrainingJobs", "sagemaker:ListEndpoints",
                         "sagemaker:ListEndpointConfigs", "sagemaker:ListModels", "sagemaker:ListTransformJobs"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="CheckStackTag",
                actions=["sagemaker:ListTags"],
                resources=[sagemaker_arn(stack, t, resource_prefix)
                           for t in SAGEMAKER_RUNTIME_TYPES],
            ),
            iam.PolicyStatement(
                sid="MarkJobsWhoseLogsAreDeleted",  # later passes skip them (shardlab:logsDeleted)
                actions=["sagemaker:AddTags"],
                resources=[sagemaker_arn(stack, "training-job", resource_prefix)],
            ),
            iam.PolicyStatement(
                sid="FindRunningExecutions",
                actions=["states:ListExecutions"],
                resources=[state_machine_arn],
            ),
            iam.PolicyStatement(
                sid="StopRunningExecutions",
                actions=["states:StopExecution"],
                resources=[executions_arn(stack, state_machine_name)],
            ),
        ]
        for function in (self.on_event, self.is_complete):
            for statement in statements:
                function.role.add_to_policy(statement)
            _acknowledge_run_resources(function.role, resource_prefix)
            ack(function.role, iam5("*"),
                "sagemaker:ListTrainingJobs/ListEndpoints/ListEndpointConfigs/ListModels/ListTransformJobs support no "
                "resource-level "
                f"permissions; results are filtered by name prefix and the {STACK_TAG} tag before any change")
            ack(function.role, iam5(f"{STATES_ARN}:execution:{state_machine_name}:*"),
                "stops running executions of this stack's state machine only; execution names are chosen at start")
        self.provider_logs = logs.LogGroup(self, "ProviderLogs", retention=logs.RetentionDays.ONE_MONTH,
                                           removal_policy=RemovalPolicy.DESTROY)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event.function,
            is_complete_handler=self.is_complete.function,
            query_interval=GUARD_POLL_INTERVAL,
            total_timeout=GUARD_TIMEOUT,
            log_group=self.provider_logs,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::ShardlabCleanupGuard",
            service_timeout=GUARD_SERVICE_TIMEOUT,
            properties={"ResourcePrefix": resource_prefix, "StateMachineArn": state_machine_arn},
        )
        self._acknowledge_provider()

    def _acknowledge_provider(self) -> None:
        reason = ("aws-cdk-lib custom-resource Provider framework internals (not configurable); it only "
                  "invokes this stack's clean-up guard functions")
        provider = self.provider
        ack(provider, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                      "AWSLambdaBasicExecutionRole]", reason)
        for guard_function in (self.on_event.function, self.is_complete.function):
            ack(provider, iam5(f"{arn_of(guard_function)}:*"), reason)
        for name in ("framework-isComplete", "framework-onTimeout"):
            ack(provider, iam5(f"{arn_of(provider.node.find_child(name))}:*"), reason)
        ack(provider, "AwsSolutions-SF1", reason + "; each poll is logged by the isComplete function")
        ack(provider, "AwsSolutions-SF2", reason + "; tracing cannot be enabled on the waiter state machine")
