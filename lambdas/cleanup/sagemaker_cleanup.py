"""Stop and delete SageMaker resources by exact name (one run) or by stack prefix + tag (stack deletion).

Training and transform jobs are stopped (and waited for); endpoints, endpoint configs and models deleted.

SageMaker's own logs of a run go too, once nothing writes them any more: the endpoint's log group
``/aws/sagemaker/Endpoints/<name>`` after the endpoint is gone, and the job's streams ``<name>/...`` in the
shared ``/aws/sagemaker/TrainingJobs`` group after the job stopped (other jobs' streams stay).

Every function is idempotent: a resource that is already gone counts as cleaned up. Resources are matched
by the `<prefix>-` name prefix AND the `shardlab:stack` tag, because another stack's prefix may start
with this one's (`shardlab-` also matches `shardlab-dev-...`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from lambdas.lambda_common.aws_errors import error_code
from lambdas.lambda_common.contracts import CleanupResult
from lambdas.lambda_common.vocabulary import ENDPOINT_LOG_GROUP_PREFIX, STACK_TAG, TRAINING_LOG_GROUP

# Training jobs in these states still run (and bill) instances.
RUNNING_TRAINING_STATES = ("InProgress", "Stopping")
# Transform jobs (`scoring` `transform`; named as the run's other resources) too.
RUNNING_TRANSFORM_STATES = ("InProgress", "Stopping")


class CleanupIncompleteError(RuntimeError):
    """Some resources cannot be deleted yet (an endpoint still Creating/Updating), or their logs not yet (an
    endpoint still Deleting, a job still Stopping); retry later."""


@dataclass
class CleanupReport:
    stopped_training_jobs: list[str] = field(default_factory=list)
    stopped_transform_jobs: list[str] = field(default_factory=list)
    deleted_endpoints: list[str] = field(default_factory=list)
    deleted_endpoint_configs: list[str] = field(default_factory=list)
    deleted_models: list[str] = field(default_factory=list)
    stopped_executions: list[str] = field(default_factory=list)
    deleted_log_groups: list[str] = field(default_factory=list)
    deleted_log_streams: list[str] = field(default_factory=list)
    # What still has to go away before the clean-up is complete.
    pending: list[str] = field(default_factory=list)

    def as_dict(self) -> CleanupResult:
        return {
            "stoppedTrainingJobs": self.stopped_training_jobs,
            "stoppedTransformJobs": self.stopped_transform_jobs,
            "deletedEndpoints": self.deleted_endpoints,
            "deletedEndpointConfigs": self.deleted_endpoint_configs,
            "deletedModels": self.deleted_models,
            "stoppedExecutions": self.stopped_executions,
            "deletedLogGroups": self.deleted_log_groups,
            "deletedLogStreams": self.deleted_log_streams,
            "pending": self.pending,
        }


def _is_missing(error: ClientError) -> bool:
    """SageMaker answers requests for unknown names with ValidationException: 'Could not find ...' for
    models, endpoint configs and endpoints, 'Requested resource not found.' for training jobs."""
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "").lower()
    return code == "ResourceNotFound" or (
        code == "ValidationException" and ("could not find" in message or "requested resource not found" in message)
    )


def _is_log_missing(error: ClientError) -> bool:
    return error_code(error) == "ResourceNotFoundException"


def _already_gone(call: Callable[[], object], is_missing: Callable[[ClientError], bool] = _is_missing) -> bool:
    """Runs ``call`` (a delete); True if what it names no longer exists, which counts as cleaned up."""
    try:
        call()
    except ClientError as error:
        if is_missing(error):
            return True
        raise
    return False


def _status(describe: Callable[[], dict[str, Any]], key: str) -> str | None:
    """The status a Describe* call reports, or None when the resource no longer exists."""
    try:
        return str(describe()[key])
    except ClientError as error:
        if _is_missing(error):
            return None
        raise


def _endpoint_status(sagemaker: Any, name: str) -> str | None:
    return _status(partial(sagemaker.describe_endpoint, EndpointName=name), "EndpointStatus")


def _training_status(sagemaker: Any, name: str) -> str | None:
    return _status(partial(sagemaker.describe_training_job, TrainingJobName=name), "TrainingJobStatus")


def stop_training_job(sagemaker: Any, name: str, report: CleanupReport) -> None:
    """Ask SageMaker to stop the job if it still runs; stopping releases its instances within minutes."""
    status = _training_status(sagemaker, name)
    if status == "InProgress" and _stop_if_in_progress(sagemaker, name):
        report.stopped_training_jobs.append(name)


def _stop_if_in_progress(sagemaker: Any, name: str) -> bool:
    """StopTrainingJob; False when the job left InProgress meanwhile (Step Functions stops the job of an
    abandoned .sync task too, so two stops can race: the loser is told the job is Stopping)."""
    try:
        sagemaker.stop_training_job(TrainingJobName=name)
        return True
    except ClientError as error:
        if _is_missing(error):
            return False
        if error_code(error) != "ValidationException":
            raise
        status = sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if status == "InProgress":
            raise
        return False


def _transform_status(sagemaker: Any, name: str) -> str | None:
    return _status(partial(sagemaker.describe_transform_job, TransformJobName=name), "TransformJobStatus")


def stop_transform_job(sagemaker: Any, name: str, report: CleanupReport) -> None:
    """StopTransformJob if the job still runs; a stop racing another (Step Functions stops an abandoned
    .sync job too) is refused once the job left InProgress, which is fine."""
    if _transform_status(sagemaker, name) != "InProgress":
        return
    try:
        sagemaker.stop_transform_job(TransformJobName=name)
    except ClientError as error:
        if _is_missing(error) or (error_code(error) == "ValidationException"
                                  and _transform_status(sagemaker, name) != "InProgress"):
            return
        raise
    report.stopped_transform_jobs.append(name)


def _transform_stopped(sagemaker: Any, name: str) -> bool:
    return _transform_status(sagemaker, name) not in RUNNING_TRANSFORM_STATES


# SageMaker refuses to delete an endpoint while it changes; a Creating one settles within about an hour.
_ENDPOINT_BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack")


def delete_endpoint(sagemaker: Any, name: str, report: CleanupReport, *, wait_until_gone: bool) -> None:
    """Delete the endpoint; pending if it cannot be deleted yet or (`wait_until_gone`) still exists."""
    status = _endpoint_status(sagemaker, name)
    if status is None:
        return
    if status in _ENDPOINT_BUSY:
        report.pending.append(f"endpoint/{name} ({status})")
        return
    if status != "Deleting":
        if _already_gone(partial(sagemaker.delete_endpoint, EndpointName=name)):
            return
        report.deleted_endpoints.append(name)
    if wait_until_gone:
        report.pending.append(f"endpoint/{name} (Deleting)")


def delete_endpoint_config(sagemaker: Any, name: str, report: CleanupReport) -> None:
    if not _already_gone(partial(sagemaker.delete_endpoint_config, EndpointConfigName=name)):
        report.deleted_endpoint_configs.append(name)


def delete_model(sagemaker: Any, name: str, report: CleanupReport) -> None:
    if not _already_gone(partial(sagemaker.delete_model, ModelName=name)):
        report.deleted_models.append(name)


def delete_endpoint_logs(logs: Any, name: str, report: CleanupReport) -> None:
    """The endpoint's own log group (call only once the endpoint is gone: a live one still writes it)."""
    group = f"{ENDPOINT_LOG_GROUP_PREFIX}{name}"
    if not _already_gone(partial(logs.delete_log_group, logGroupName=group), _is_log_missing):
        report.deleted_log_groups.append(group)


def delete_training_logs(logs: Any, name: str, report: CleanupReport) -> None:
    """The job's streams (``<name>/algo-<host>-<epoch>``) in the shared group; call once the job stopped."""
    streams: list[str] = []
    try:
        for page in logs.get_paginator("describe_log_streams").paginate(
                logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{name}/"):
            streams += [stream["logStreamName"] for stream in page.get("logStreams", [])]
    except ClientError as error:
        if _is_log_missing(error):  # no job of the account has logged yet
            return
        raise
    for stream in streams:
        delete = partial(logs.delete_log_stream, logGroupName=TRAINING_LOG_GROUP, logStreamName=stream)
        if not _already_gone(delete, _is_log_missing):
            report.deleted_log_streams.append(f"{TRAINING_LOG_GROUP}:{stream}")


# How long one clean-up call waits for a Deleting endpoint / Stopping job before it asks to be retried
# (the run's clean-up Lambda has 2 minutes; both usually settle within one or two).
RUN_SETTLE_SECONDS = 60.0


def _endpoint_gone(sagemaker: Any, name: str) -> bool:
    return _endpoint_status(sagemaker, name) is None


def _training_stopped(sagemaker: Any, name: str) -> bool:
    return _training_status(sagemaker, name) not in RUNNING_TRAINING_STATES


def _settled(check: Callable[[], bool], deadline: float, sleep: Callable[[float], None]) -> bool:
    delay = 0.05
    while not check():
        if time.monotonic() + delay > deadline:
            return False
        sleep(delay)
        delay = min(delay * 2, 5.0)
    return True


def run_names(names: Mapping[str, str], sweep: Mapping[str, Any] | None) -> list[str]:
    """Every name one run's resources may have, sorted and distinct: its branches' names and, with a sweep
    (`config.sweep`), every point's (`points[].config.names`): a failing point fails the run while other points'
    jobs may still run, so the clean-up covers the whole grid whichever points started."""
    found = set(names.values())
    for point in (sweep or {}).get("points", []):
        found.update(point["config"]["names"].values())
    return sorted(found)


def cleanup_run(sagemaker: Any, logs: Any, names: Iterable[str], *, settle_seconds: float = 0.0,
                sleep: Callable[[float], None] = time.sleep) -> CleanupReport:
    """One run's resources: each branch uses one name for its job, model, endpoint config and endpoint.

    Their logs are deleted once nothing writes them; until then the name stays ``pending`` (retry later).
    """
    report = CleanupReport()
    names = list(names)
    deadline = time.monotonic() + settle_seconds
    for name in names:
        stop_training_job(sagemaker, name, report)
        stop_transform_job(sagemaker, name, report)
        delete_endpoint(sagemaker, name, report, wait_until_gone=False)
        delete_endpoint_config(sagemaker, name, report)
        delete_model(sagemaker, name, report)
    for name in names:
        # An endpoint still Creating/Updating is already pending: its logs go once it could be deleted.
        if not any(item.startswith(f"endpoint/{name} ") for item in report.pending):
            if _settled(partial(_endpoint_gone, sagemaker, name), deadline, sleep):
                delete_endpoint_logs(logs, name, report)
            else:
                report.pending.append(f"endpoint/{name} (Deleting)")
        if _settled(partial(_training_stopped, sagemaker, name), deadline, sleep):
            delete_training_logs(logs, name, report)
        else:
            report.pending.append(f"training-job/{name} (Stopping)")
        if not _settled(partial(_transform_stopped, sagemaker, name), deadline, sleep):
            report.pending.append(f"transform-job/{name} (Stopping)")
    return report


def _paginate(sagemaker: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in sagemaker.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _stack_tags(sagemaker: Any, arn: str, prefix: str) -> dict[str, str] | None:
    """The resource's tags if it is this stack's, else None."""
    tags = {tag.get("Key", ""): tag.get("Value", "") for tag in sagemaker.list_tags(ResourceArn=arn).get("Tags", [])}
    return tags if tags.get(STACK_TAG) == prefix else None


def _belongs_to_stack(sagemaker: Any, arn: str, prefix: str) -> bool:
    return _stack_tags(sagemaker, arn, prefix) is not None


@dataclass(frozen=True)
class StackJob:
    name: str
    status: str
    arn: str
    logs_deleted: bool  # a guard pass already deleted its logs (LOGS_DELETED_TAG)


def stack_training_jobs(sagemaker: Any, prefix: str) -> list[StackJob]:
    """This stack's training jobs, in any status (a run's other resources share its name)."""
    jobs = []
    for job in _paginate(sagemaker, "list_training_jobs", "TrainingJobSummaries", NameContains=prefix):
        if not job["TrainingJobName"].startswith(f"{prefix}-"):
            continue
        tags = _stack_tags(sagemaker, job["TrainingJobArn"], prefix)
        if tags is not None:
            jobs.append(StackJob(job["TrainingJobName"], job["TrainingJobStatus"], job["TrainingJobArn"],
                                 tags.get(LOGS_DELETED_TAG) == "true"))
    return jobs


def stack_resources(sagemaker: Any, prefix: str, *, operation: str, key: str, name_key: str,
                    arn_key: str) -> list[dict[str, Any]]:
    return [
        item
        for item in _paginate(sagemaker, operation, key, NameContains=prefix)
        if item[name_key].startswith(f"{prefix}-") and _belongs_to_stack(sagemaker, item[arn_key], prefix)
    ]


def stop_running_executions(stepfunctions: Any, state_machine_arn: str, report: CleanupReport) -> None:
    paginator = stepfunctions.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING"):
        for execution in page.get("executions", []):
            stepfunctions.stop_execution(
                executionArn=execution["executionArn"],
                error="StackDeleted",
                cause="The shardlab stack is being deleted; its clean-up guard stopped this execution.",
            )
            report.stopped_executions.append(execution["executionArn"])


# SageMaker keeps every training job's description, so the stack's jobs grow with every run. A guard pass
# (repeated every 30 s) tags a job whose logs it deleted, and later passes skip it; and one pass works on logs
# for at most PASS_LOG_BUDGET_SECONDS (what is left is pending for the next pass), well inside the guard
# functions' timeout (stacks/cleanup.py).
LOGS_DELETED_TAG = "shardlab:logsDeleted"
PASS_LOG_BUDGET_SECONDS = 90.0


def cleanup_stack(  # noqa: C901, PLR0912 -- one loop per kind, in deletion order
    sagemaker: Any, stepfunctions: Any, logs: Any, *, prefix: str, state_machine_arn: str | None,
    log_budget_seconds: float = PASS_LOG_BUDGET_SECONDS, clock: Callable[[], float] = time.monotonic,
) -> CleanupReport:
    """One pass over everything the stack's runs may have left; `pending` empty means nothing remains."""
    report = CleanupReport()
    if state_machine_arn:
        try:
            stop_running_executions(stepfunctions, state_machine_arn, report)
        except ClientError as error:
            if error_code(error) != "StateMachineDoesNotExist":
                raise
    jobs = stack_training_jobs(sagemaker, prefix)
    for job in jobs:
        if job.status in RUNNING_TRAINING_STATES:
            if job.status == "InProgress" and _stop_if_in_progress(sagemaker, job.name):
                report.stopped_training_jobs.append(job.name)
            report.pending.append(f"training-job/{job.name}")
    for transform in stack_resources(sagemaker, prefix, operation="list_transform_jobs", key="TransformJobSummaries",
                                     name_key="TransformJobName", arn_key="TransformJobArn"):
        if transform["TransformJobStatus"] in RUNNING_TRANSFORM_STATES:
            stop_transform_job(sagemaker, transform["TransformJobName"], report)
            report.pending.append(f"transform-job/{transform['TransformJobName']}")
    endpoints = stack_resources(sagemaker, prefix, operation="list_endpoints", key="Endpoints",
                                name_key="EndpointName", arn_key="EndpointArn")
    for endpoint in endpoints:
        # `cdk destroy` must not finish while an endpoint still exists.
        delete_endpoint(sagemaker, endpoint["EndpointName"], report, wait_until_gone=True)
    # Every endpoint of a run is named after its training job, so the stack's jobs name all its logs.
    remaining_endpoints = {endpoint["EndpointName"] for endpoint in endpoints}
    deadline = clock() + log_budget_seconds
    for job in jobs:
        if job.logs_deleted:
            continue
        if clock() > deadline:
            report.pending.append(f"logs of training-job/{job.name} (next pass)")
            continue
        endpoint_gone = job.name not in remaining_endpoints
        stopped = job.status not in RUNNING_TRAINING_STATES
        if endpoint_gone:
            delete_endpoint_logs(logs, job.name, report)
        if stopped:
            delete_training_logs(logs, job.name, report)
        if endpoint_gone and stopped:
            sagemaker.add_tags(ResourceArn=job.arn, Tags=[{"Key": LOGS_DELETED_TAG, "Value": "true"}])
    for config in stack_resources(sagemaker, prefix, operation="list_endpoint_configs", key="EndpointConfigs",
                                  name_key="EndpointConfigName", arn_key="EndpointConfigArn"):
        delete_endpoint_config(sagemaker, config["EndpointConfigName"], report)
    for model in stack_resources(sagemaker, prefix, operation="list_models", key="Models", name_key="ModelName",
                                 arn_key="ModelArn"):
        delete_model(sagemaker, model["ModelName"], report)
    return report
