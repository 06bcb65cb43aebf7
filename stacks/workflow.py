"""The pipeline's state machine (JSONPath only: local mode runs this definition on moto's interpreter).

Validate input -> check service quotas -> profile base year -> (cached? | shard years -> finalize) -> hyperparameters ->
train both ways (Parallel, .sync) -> host both models (Parallel, bounded wait) or score by batch transform -> compare ->
clean up unless keepEndpoints -> Done. With a sweep (`config.sweep`), a Map runs train -> transform -> compare for
every point of the grid instead, then `Report sweep` and the clean-up. From training on, any failure runs the
clean-up and then fails with the original Error and Cause.

`Pipeline` builds each stage in its own method (`_validate_input`, ..., `_keep_or_delete`, `_failure_handling`);
`__init__` only chains them. docs/ARCHITECTURE.md's stage map names the method behind every state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from lambdas.lambda_common.contracts import (
    CleanupEvent,
    CleanupResult,
    CompareEvent,
    FinalizeEvent,
    ProfileEvent,
    ProfileResult,
    QuotaCheckEvent,
    ShardEvent,
    SweepReportEvent,
    ValidateInputEvent,
)
from lambdas.lambda_common.vocabulary import BRANCHES
from stacks.acknowledgements import RUNTIME_NAMES, SAGEMAKER_ARN, ack, arn_of, iam5
from stacks.comparison import COMPARE_TIMEOUT_SECONDS
from stacks.config_paths import CONFIG, config_path
from stacks.hosting import host_one_model
from stacks.markers import STATE_MACHINE, mark
from stacks.names import SAGEMAKER_RUNTIME_TYPES, sagemaker_arn, training_sync_rule_arn
from stacks.payloads import lambda_payload, result_path
from stacks.training import train_both_ways
from stacks.transform import score_by_transform, transform_outputs_payload, transform_task_statements

J = sfn.JsonPath
# SageMaker may refuse to delete an endpoint for up to about an hour (while Creating); retry that long.
CLEANUP_RETRY_INTERVAL = Duration.seconds(60)
CLEANUP_RETRY_ATTEMPTS = 70
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"
# State names are unique in a state machine: a sweep point's copies of the single run's states end in this.
SWEEP_POINT = " at sweep point"
# The pre-flight's `report.sweep`, and in it how many points the quotas let run at once.
PREFLIGHT_SWEEP_PATH = "$.quotaCheck.report.sweep"
SWEEP_CONCURRENCY_PATH = f"{PREFLIGHT_SWEEP_PATH}.concurrency"

# What a stage that may leave SageMaker resources behind catches with: `on_failure("Training")` is the
# state that records the stage, cleans up and fails.
OnFailure = Callable[[str], sfn.IChainable]


def _config(path: str) -> str:
    return J.string_at(config_path(path))


def sagemaker_task_statements(stack: Stack, *, prefix: str, sagemaker_role_arn: str) -> list[iam.PolicyStatement]:
    """What the hand-written SageMaker tasks need on the run's resources (named `<prefix>-...`)."""
    return [
        iam.PolicyStatement(
            sid="TrainingJobs",
            # Stop/Describe: the .sync integration polls the job and stops it if the execution stops.
            actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
                     "sagemaker:StopTrainingJob"],
            resources=[sagemaker_arn(stack, "training-job", prefix)],
        ),
        iam.PolicyStatement(
            sid="Models", actions=["sagemaker:CreateModel"],
            resources=[sagemaker_arn(stack, "model", prefix)],
        ),
        iam.PolicyStatement(
            sid="EndpointConfigs", actions=["sagemaker:CreateEndpointConfig"],
            resources=[sagemaker_arn(stack, "endpoint-config", prefix)],
        ),
        iam.PolicyStatement(
            sid="Endpoints",
            # CreateEndpoint is authorized against both the endpoint and the endpoint config.
            actions=["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint"],
            resources=[sagemaker_arn(stack, "endpoint", prefix),
                       sagemaker_arn(stack, "endpoint-config", prefix)],
        ),
        iam.PolicyStatement(
            # Tags in a Create* request need AddTags on the new resource; the integrations read them back.
            sid="TagOnCreate",
            actions=["sagemaker:AddTags", "sagemaker:ListTags"],
            resources=[sagemaker_arn(stack, t, prefix) for t in SAGEMAKER_RUNTIME_TYPES],
        ),
        iam.PolicyStatement(
            sid="PassSageMakerRole", actions=["iam:PassRole"], resources=[sagemaker_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            sid="TrainingSyncRule",  # the managed rule behind createTrainingJob.sync
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[training_sync_rule_arn(stack)],
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class PipelineFunctions:
    """The Lambda functions the state machine invokes (wired by handler string in the stack)."""

    validate: lambda_.IFunction
    profile: lambda_.IFunction
    shard: lambda_.IFunction
    finalize: lambda_.IFunction
    compare: lambda_.IFunction
    cleanup: lambda_.IFunction
    quota_check: lambda_.IFunction
    sweep_report: lambda_.IFunction

    def all(self) -> tuple[lambda_.IFunction, ...]:
        """In field order (not dataclasses.astuple, which would deep-copy the CDK objects)."""
        return tuple(getattr(self, field.name) for field in fields(self))


class Pipeline(Construct):
    """The state machine, its log group, and what its hand-written SageMaker tasks may do."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        functions: PipelineFunctions,
        sagemaker_role_arn: str,
        image_uri: str,
        resource_prefix: str,
        state_machine_name: str,
        shard_concurrency: int,
    ) -> None:
        super().__init__(scope, id_)
        self._functions = functions
        self._role_arn = sagemaker_role_arn
        self._image_uri = image_uri
        self._prefix = resource_prefix

        # The stages are built in this order (it fixes each state's transitions' order in the definition).
        validate = self._validate_input()
        check_quotas = self._check_quotas()
        profile = self._profile_base_year()
        shard_years = self._shard_years(max_concurrency=shard_concurrency)
        finalize = self._finalize_dataset()
        hyperparameters = self._hyperparameters()
        on_failure = self._failure_handling()
        keep_or_delete, delete_and_finish = self._keep_or_delete()
        single_run = (
            self._train_both_ways(on_failure)
            .next(self._score_on_endpoints_or_by_transform(
                endpoints=self._host_both_models(on_failure).next(self._compare_endpoints(on_failure)),
                transform=self._score_by_transform(on_failure),
            ).afterwards())
            .next(keep_or_delete)
        )
        sweep = self._run_sweep(on_failure).next(self._report_sweep(on_failure)).next(delete_and_finish)
        train_and_compare = hyperparameters.next(self._sweep_or_single_run(sweep=sweep, single_run=single_run))
        definition = (
            validate.next(check_quotas).next(profile)
            .next(self._dataset_already_prepared(train_and_compare, prepare=shard_years.next(finalize)))
        )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY,
            # Under /aws/vendedlogs/ CloudWatch Logs needs no resource-policy entry per group for log delivery
            # (that policy is limited to 5,120 characters per account and region).
            log_group_name=f"{VENDED_LOGS_PREFIX}{state_machine_name}",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            comment="shardlab: GDELT -> Linear Learner trained FullyReplicated vs ShardedByS3Key -> compare",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        mark(self.state_machine, STATE_MACHINE)  # local mode and the tests find the pipeline by it
        self._grant_sagemaker_tasks()

    # --- permissions -----------------------------------------------------------------------------------------

    def _grant_sagemaker_tasks(self) -> None:
        """What the hand-written SageMaker tasks need (CDK grants the Lambda tasks, tracing and logging)."""
        stack = Stack.of(self)
        prefix = self._prefix
        for statement in [*sagemaker_task_statements(stack, prefix=prefix, sagemaker_role_arn=self._role_arn),
                          *transform_task_statements(stack, prefix=prefix)]:
            self.state_machine.add_to_role_policy(statement)
        for resource_type in SAGEMAKER_RUNTIME_TYPES:
            ack(self.state_machine, iam5(f"{SAGEMAKER_ARN}:{resource_type}/{prefix}-*"), RUNTIME_NAMES)
        ack(self.state_machine, iam5("*"),
            "X-Ray tracing (xray:PutTraceSegments etc.) and CloudWatch Logs delivery (logs:CreateLogDelivery etc.) "
            "support no resource-level permissions (statements added by CDK for tracing and logging)")
        for function in self._functions.all():
            ack(self.state_machine, iam5(f"{arn_of(function)}:*"),
                "CDK's LambdaInvoke grant covers the function's versions/aliases (<arn>:*) of this one function")

    # --- stages, in execution order ------------------------------------------------------------------------

    def _validate_input(self) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            "Validate input",
            comment="Apply defaults, validate, derive names; invalid input stops here, before any cost.",
            lambda_function=self._functions.validate,
            payload=sfn.TaskInput.from_object(lambda_payload(
                ValidateInputEvent, input=J.entire_payload, execution_name=J.execution_name,
                execution_start_time=J.execution_start_time,
            )),
            result_selector={"config": J.object_at("$.Payload")},
            result_path="$",
        )

    def _check_quotas(self) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            "Check service quotas",
            comment="SageMaker instance quotas vs. this run's need, worst-case cost vs. maxCostUsd; either fails "
                    "here, before any cost.",
            lambda_function=self._functions.quota_check,
            payload=sfn.TaskInput.from_object(
                lambda_payload(QuotaCheckEvent, scoring_bound_seconds=COMPARE_TIMEOUT_SECONDS)
            ),
            result_selector={"report": J.object_at("$.Payload")},
            result_path="$.quotaCheck",
        )

    def _profile_base_year(self) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            "Profile base year",
            comment="Top event codes of the first training year, or the manifest of an already prepared dataset.",
            lambda_function=self._functions.profile,
            payload=sfn.TaskInput.from_object(
                lambda_payload(ProfileEvent, year=J.number_at(config_path("trainYears[0]")))
            ),
            result_selector={
                "cached": J.string_at(result_path(ProfileResult, "cached")),
                "eventCodes": J.list_at(result_path(ProfileResult, "eventCodes")),
                "counts": J.object_at(result_path(ProfileResult, "counts")),
                "featureDim": J.number_at(result_path(ProfileResult, "featureDim")),
                "manifest": J.string_at(result_path(ProfileResult, "manifest")),
            },
            result_path="$.profile",
        )

    def _dataset_already_prepared(self, prepared: sfn.Chain, *, prepare: sfn.Chain) -> sfn.Choice:
        """A complete dataset (its manifest exists) goes straight to training; otherwise `prepare` runs first."""
        return (
            sfn.Choice(self, "Dataset already prepared?")
            .when(sfn.Condition.boolean_equals("$.profile.cached", True), prepared)
            .otherwise(prepare.next(prepared))
        )

    def _shard_years(self, *, max_concurrency: int) -> sfn.Map:
        shard_one_year = tasks.LambdaInvoke(
            self,
            "Shard one year",
            comment="One yearly GDELT file -> recordIO-protobuf objects for its channel(s).",
            lambda_function=self._functions.shard,
            payload=sfn.TaskInput.from_json_path_at("$"),
            output_path="$.Payload",
        )
        shard_years = sfn.Map(
            self,
            "Shard years",
            comment="Every training year and the test year, a few at a time.",
            items_path=config_path("shardYears"),
            item_selector=lambda_payload(
                ShardEvent,
                year=J.number_at("$$.Map.Item.Value.year"),
                role=J.string_at("$$.Map.Item.Value.role"),
                group=J.number_at("$$.Map.Item.Value.group"),  # the year's file, or one month of files
                event_codes=J.list_at("$.profile.eventCodes"),
            ),
            max_concurrency=max_concurrency,
            result_path=J.DISCARD,  # each group's statistics and keys stay in S3; finalize reads them there
        )
        shard_years.item_processor(shard_one_year)
        return shard_years

    def _finalize_dataset(self) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            "Finalize dataset",
            comment="Writes manifest.json last: its presence marks the dataset complete and reusable.",
            lambda_function=self._functions.finalize,
            payload=sfn.TaskInput.from_object(
                lambda_payload(FinalizeEvent, profile=J.object_at("$.profile"),
                               shards=J.list_at(config_path("shardYears")))
            ),
            result_selector={"summary": J.object_at("$.Payload")},  # counts and the manifest's URI
            result_path="$.dataset",
        )

    def _hyperparameters(self) -> sfn.Chain:
        """The config's hyperparameters plus feature_dim, which only the data knows."""
        feature_dim = sfn.Pass(
            self,
            "Feature dimension from data",
            comment="SageMaker hyperparameters are strings.",
            parameters={"feature_dim": J.format("{}", J.string_at("$.profile.featureDim"))},
            result_path="$.featureDimHyperParameter",
        )
        hyperparameters = sfn.Pass(
            self,
            "Training hyperparameters",
            parameters={
                "values": J.json_merge(
                    J.object_at(config_path("hyperParameters")), J.object_at("$.featureDimHyperParameter")
                )
            },
            result_path="$.hyperParameters",
        )
        return feature_dim.next(hyperparameters)

    def _train_both_ways(self, on_failure: OnFailure) -> sfn.Parallel:
        training = train_both_ways(self, role_arn=self._role_arn, image_uri=self._image_uri)
        training.add_catch(on_failure("Training"), errors=["States.ALL"], result_path="$.error")
        return training

    def _host_both_models(self, on_failure: OnFailure) -> sfn.Parallel:
        hosting = sfn.Parallel(self, "Host both models", result_path=J.DISCARD)
        for branch in BRANCHES:
            hosting.branch(
                host_one_model(self, branch=branch, role_arn=self._role_arn, image_uri=self._image_uri)
            )
        hosting.add_catch(on_failure("Hosting"), errors=["States.ALL"], result_path="$.error")
        return hosting

    def _score_on_endpoints_or_by_transform(self, *, endpoints: sfn.Chain, transform: sfn.Chain) -> sfn.Choice:
        return (
            sfn.Choice(self, "Score by batch transform?")
            .when(sfn.Condition.string_equals(config_path("scoring"), "transform"), transform)
            .otherwise(endpoints)
        )

    def _score_by_transform(self, on_failure: OnFailure) -> sfn.Chain:
        """stacks/transform.py's stage, then the compare Lambda on the jobs' outputs."""
        scoring = score_by_transform(self, role_arn=self._role_arn, image_uri=self._image_uri)
        scoring.add_catch(on_failure("Scoring"), errors=["States.ALL"], result_path="$.error")
        return scoring.next(self._compare("Compare transform outputs", on_failure, transform_outputs_payload()))

    def _compare_endpoints(self, on_failure: OnFailure) -> tasks.LambdaInvoke:
        return self._compare(
            "Compare endpoints", on_failure, {"endpoints": {branch: _config(f"names.{branch}") for branch in BRANCHES}}
        )

    def _compare(self, name: str, on_failure: OnFailure | None, scoring: dict[str, Any], *,
                 parameters: str | None = None, cost_projection: bool = True,
                 point: str | None = None) -> tasks.LambdaInvoke:
        """The compare Lambda; `on_failure` None inside a Map iteration (only the Map may catch there), and no
        cost projection at a sweep point (the pre-flight's is the whole grid's)."""
        compare = tasks.LambdaInvoke(
            self,
            name,
            comment="Scores the test year (or reads its scores); writes report.json and report.md; puts metrics.",
            lambda_function=self._functions.compare,
            payload=sfn.TaskInput.from_object(
                lambda_payload(
                    CompareEvent,
                    training_jobs={branch: _config(f"names.{branch}") for branch in BRANCHES},
                    **scoring,
                    # every test object (one per source group of the test year), in key order
                    test_data=J.format("s3://{}/{}test/", _config("bucket"), _config("datasetPrefix")),
                    train_data=J.format("s3://{}/{}train/", _config("bucket"), _config("datasetPrefix")),
                    parameters=parameters or J.object_at(CONFIG),
                    **({"cost_projection": J.object_at("$.quotaCheck.report.costProjection")}
                       if cost_projection else {}),
                    **({"point": J.string_at(point)} if point is not None else {}),
                )
            ),
            result_selector={"summary": J.object_at("$.Payload")},
            result_path="$.comparison",
        )
        if on_failure is not None:
            compare.add_catch(on_failure("Comparison"), errors=["States.ALL"], result_path="$.error")
        return compare

    # --- the sweep (config.sweep): every point of the grid trained, scored and compared, then one report -------

    def _sweep_or_single_run(self, *, sweep: sfn.Chain, single_run: sfn.Chain) -> sfn.Choice:
        return (
            sfn.Choice(self, "Sweep?")
            .when(sfn.Condition.is_not_null(config_path("sweep")), sweep)
            .otherwise(single_run)
        )

    def _run_sweep(self, on_failure: OnFailure) -> sfn.Map:
        """An inline Map over the grid's points, as many at once as the pre-flight found the quotas allow. Each
        iteration is a single transform-scored run on the config merged with the point's overrides (its
        instanceCount, names, runPrefix) and the hyperparameters merged with its swept ones; its report stays
        in S3 (`runs/<runId>/points/<point>/`), so the Map's result is discarded. A point's failure fails the
        Map (only the Map may catch: a Catch cannot leave an iteration), whose clean-up removes every point's."""
        point = (
            train_both_ways(self, role_arn=self._role_arn, image_uri=self._image_uri, suffix=SWEEP_POINT)
            .next(score_by_transform(self, role_arn=self._role_arn, image_uri=self._image_uri, suffix=SWEEP_POINT))
            .next(self._compare(
                f"Compare transform outputs{SWEEP_POINT}", None, transform_outputs_payload(),
                # the point's report names the hyperparameters it trained with
                parameters=J.json_merge(J.object_at(CONFIG), J.object_at("$.pointParameters")),
                cost_projection=False,
                point="$.point",
            ))
        )
        item = "$$.Map.Item.Value"
        sweep = sfn.Map(
            self,
            "Run sweep points",
            comment="Every point of the grid: both trainings, both transform jobs, the comparison.",
            items_path=config_path("sweep.points"),
            max_concurrency_path=SWEEP_CONCURRENCY_PATH,
            item_selector={
                "config": J.json_merge(J.object_at(CONFIG), J.object_at(f"{item}.config")),
                "hyperParameters": {
                    "values": J.json_merge(J.object_at("$.hyperParameters.values"),
                                           J.object_at(f"{item}.hyperParameters")),
                },
                "pointParameters": {
                    "hyperParameters": J.json_merge(J.object_at(config_path("hyperParameters")),
                                                    J.object_at(f"{item}.hyperParameters")),
                },
                "point": J.string_at(f"{item}.point"),
            },
            result_path=J.DISCARD,
        )
        sweep.item_processor(point)
        sweep.add_catch(on_failure("Sweep"), errors=["States.ALL"], result_path="$.error")
        return sweep

    def _report_sweep(self, on_failure: OnFailure) -> tasks.LambdaInvoke:
        report = tasks.LambdaInvoke(
            self,
            "Report sweep",
            comment="Reads every point's report.json; writes the sweep's report, picture and recommendation.",
            lambda_function=self._functions.sweep_report,
            payload=sfn.TaskInput.from_object(lambda_payload(
                SweepReportEvent,
                concurrency=J.object_at(PREFLIGHT_SWEEP_PATH),
                cost_projection=J.object_at("$.quotaCheck.report.costProjection"),
            )),
            # where a single run's comparison goes: `Done` outputs it
            result_selector={"summary": J.object_at("$.Payload")},
            result_path="$.comparison",
        )
        report.add_catch(on_failure("SweepReport"), errors=["States.ALL"], result_path="$.error")
        return report

    def _keep_or_delete(self) -> tuple[sfn.Choice, tasks.LambdaInvoke]:
        """keepEndpoints ends the run with its endpoints serving; otherwise they and their models go first.
        Returns the Choice and the clean-up task (a sweep, which has no endpoints to keep, goes to it directly)."""
        done = sfn.Succeed(self, "Done", output_path="$.comparison")
        cleanup = self._cleanup_task("Delete endpoints and models")
        cleanup.next(done)
        keep_or_delete = (
            sfn.Choice(self, "Keep endpoints?")
            .when(sfn.Condition.boolean_equals(config_path("keepEndpoints"), True), done)
            .otherwise(cleanup)
        )
        return keep_or_delete, cleanup

    # --- failure handling ----------------------------------------------------------------------------------

    def _failure_handling(self) -> OnFailure:
        """Every failure after SageMaker resources may exist: clean up, then fail with "<Stage>Failed" and a
        cause that carries the step's own error and cause (computed by the clean-up Lambda, which cannot
        trip over a missing field the way a JSONPath Fail state would). Returns the catch target per stage."""
        failed = sfn.Fail(
            self, "Run failed", error_path=result_path(CleanupResult, "failure.Error", at="$.cleanup.report"),
            cause_path=result_path(CleanupResult, "failure.Cause", at="$.cleanup.report"),
        )
        cleanup_failed = sfn.Fail(
            self, "Clean-up failed", error="CleanupFailed",
            cause_path=J.format(
                "{} failed, then its clean-up failed: {}; the original failure: {}",
                J.string_at("$.failedStage.stage"),
                J.json_to_string(J.object_at("$.cleanupError")),
                J.json_to_string(J.object_at("$.error")),
            ),
        )
        cleanup_after_failure = self._cleanup_task("Clean up after failure", after_failure=True)
        cleanup_after_failure.add_catch(cleanup_failed, errors=["States.ALL"], result_path="$.cleanupError")
        cleanup_after_failure.next(failed)

        recorded: dict[str, sfn.IChainable] = {}  # one state per stage (both compare states catch to one)

        def on_failure(stage: str) -> sfn.IChainable:
            if stage not in recorded:
                recorded[stage] = sfn.Pass(
                    self, f"{stage} failed", result=sfn.Result.from_object({"stage": stage}),
                    result_path="$.failedStage",
                ).next(cleanup_after_failure)
            return recorded[stage]

        return on_failure

    def _cleanup_task(self, name: str, *, after_failure: bool = False) -> tasks.LambdaInvoke:
        failure = {"stage": J.string_at("$.failedStage.stage"), "error": J.object_at("$.error")}
        payload = lambda_payload(CleanupEvent, **({"failure": failure} if after_failure else {}))
        task = tasks.LambdaInvoke(
            self,
            name,
            comment="Stops the run's training jobs; deletes its endpoints, endpoint configs and models.",
            lambda_function=self._functions.cleanup,
            payload=sfn.TaskInput.from_object(payload),
            result_selector={"report": J.object_at("$.Payload")},
            result_path="$.cleanup",
        )
        task.add_retry(
            errors=["CleanupIncompleteError"],
            interval=CLEANUP_RETRY_INTERVAL,
            max_attempts=CLEANUP_RETRY_ATTEMPTS,
            backoff_rate=1,
        )
        return task
