"""The two places where local mode plugs into moto's Step Functions interpreter.

moto (pinned) interprets the synthesized definition as it is. It lacks two things local mode needs:

* ``sagemaker:createTrainingJob.sync`` and ``sagemaker:createTransformJob.sync``: moto forwards SageMaker
  request-response calls but has no ``.sync``. ``SageMakerTaskService`` adds it the way Step Functions does it:
  create the job, poll ``DescribeTrainingJob`` / ``DescribeTransformJob`` until a terminal status, succeed with
  the description, fail with ``States.TaskFailed`` and the description as the cause, and stop the job if the
  task is abandoned (a failed sibling branch, a stopped execution, the task's ``TimeoutSeconds``). SageMaker API
  errors become ``SageMaker.AmazonSageMakerException`` with the service's message, as Step Functions reports
  them, so Retry and Catch behave as on AWS.
* Lambda tasks: moto would run Lambda code in Docker. ``InProcessLambdaService`` runs the project's real
  handler in this process with the payload the state machine sends.

Both are installed through the narrowest hook moto offers: the service factory that
``state_task_factory`` imports (``state_task_service_for``). ``tests/test_local_sfn_hooks.py`` fails loudly if
a moto upgrade moves it.

One moto defect is patched while the hooks are installed: a Parallel branch (or Map iteration) that fails
with a ``States.*`` error (``States.TaskFailed`` from a failed training job) is re-raised by moto as a custom
error name, which moto itself then refuses ("Custom Error Names MUST NOT begin with the prefix 'States.'"),
so the execution died with ``States.Runtime`` instead of running the Parallel's Catch. ``_branch_error_name``
keeps the reserved name, as Step Functions does. A second: when one iteration of an inline Map fails, moto's Map
fails at once but leaves its other running iterations running (their threads go on training, creating models,
starting transform jobs while the Map's Catch already cleans up); Step Functions stops them, and so does
``_stop_iterations_of_a_failed_map`` (each iteration's frame is stopped, so a ``.sync`` task in it stops its job,
as a failed Parallel's sibling branch does). And moto spells the AWS SDK integration's SageMaker errors
in lower case (``sagemaker.sagemakerException``); while installed they are ``SageMaker.SageMakerException`` (and
``SageMaker.<modeled error>Exception``), the names Step Functions raises and the definition's Retry matches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import botocore.session
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    inline_iteration_component,
    iteration_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
    state_task_service_lambda,
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from local import payload_limit

LOG = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]

_TERMINAL_FAILURES = {"Failed", "Stopped"}
_ORIGINAL_FACTORY = state_task_factory.state_task_service_for
_install_lock = threading.Lock()


def _jsonable(value: Any) -> Any:
    """Step Functions hands service responses on as JSON: timestamps become epoch milliseconds."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return value


def _sagemaker_error_cause(error: ClientError) -> str:
    meta = error.response.get("ResponseMetadata", {})
    details = "; ".join(
        [
            "Service: AmazonSageMaker",
            f"Status Code: {meta.get('HTTPStatusCode', 400)}",
            f"Error Code: {error.response['Error'].get('Code', 'Unknown')}",
            f"Request ID: {meta.get('RequestId', 'local')}",
            "Proxy: null",
        ]
    )
    return f"{error.response['Error'].get('Message', '')} ({details})"


_SAGEMAKER_MODEL = botocore.session.get_session().get_service_model("sagemaker")
SAGEMAKER_GENERIC_ERROR = "SageMaker.AmazonSageMakerException"


def sagemaker_error_name(error: ClientError) -> str:
    """Step Functions' optimized SageMaker integration names an error the operation models (ResourceLimitExceeded,
    ResourceInUse, ...) `SageMaker.<Code>Exception`, so a Retry on SageMaker.AmazonSageMakerException does not
    repeat a request that cannot succeed; every other error (throttling, ValidationException) is that name."""
    code = error.response["Error"].get("Code", "")
    try:
        modeled = {shape.name for shape in _SAGEMAKER_MODEL.operation_model(error.operation_name).error_shapes}
    except botocore.exceptions.OperationNotFoundError:
        modeled = set()
    return f"SageMaker.{code.removesuffix('Exception')}Exception" if code in modeled else SAGEMAKER_GENERIC_ERROR


class SyncJobFailedError(Exception):
    """The job ended Failed or Stopped; the cause is its description, as Step Functions reports it."""

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__(description.get("FailureReason", "the job ended Failed or Stopped"))
        self.description = description


@dataclass(frozen=True)
class SyncJob:
    """One SageMaker job kind a ``.sync`` task runs: the API calls and members that name and report it."""

    name_member: str  # in the Create/Describe/Stop request
    describe: str  # boto3 method names
    stop: str
    status_member: str


# boto3 method of the Create call (the task's action) -> how Step Functions follows that job.
SYNC_JOBS = {
    "create_training_job": SyncJob("TrainingJobName", "describe_training_job", "stop_training_job",
                                   "TrainingJobStatus"),
    "create_transform_job": SyncJob("TransformJobName", "describe_transform_job", "stop_transform_job",
                                    "TransformJobStatus"),
}


class SageMakerTaskService(state_task_service_unsupported.StateTaskServiceUnsupported):
    """SageMaker tasks: request-response forwarding (moto's) plus ``createTrainingJob.sync``."""

    def __init__(self) -> None:
        state_task_service_callback.StateTaskServiceCallback.__init__(
            self,
            supported_integration_patterns={ResourceCondition.WaitForTaskToken, ResourceCondition.Sync},
        )

    def _validate_service_integration_is_supported(self) -> None:
        if self.resource.condition == ResourceCondition.Sync and self._get_boto_service_action() not in SYNC_JOBS:
            raise ValueError(f"local mode has no .sync for {self.resource.resource_arn}")

    def _log_unsupported_warning(self) -> None:
        """Silence moto's 'unsupported integration' warning: local mode supports it."""

    def _failure(self, env: Any, error: str, cause: str) -> FailureEvent:
        error_name: Any = (
            StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
            if error == "States.TaskFailed"
            else CustomErrorName(error)
        )
        return FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, SyncJobFailedError):
            return self._failure(env, "States.TaskFailed", json.dumps(_jsonable(ex.description)))
        if isinstance(ex, ClientError):
            return self._failure(env, sagemaker_error_name(ex), _sagemaker_error_cause(ex))
        return super()._from_error(env, ex)

    def _build_sync_resolver(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Callable[[], Any]:
        client = boto_client_for(
            region=resource_runtime_part.region, service="sagemaker", state_credentials=state_credentials
        )
        job = SYNC_JOBS[self._get_boto_service_action()]
        job_name = normalised_parameters[job.name_member]

        def describe_until_terminal() -> dict[str, Any] | None:
            description = getattr(client, job.describe)(**{job.name_member: job_name})
            status = description[job.status_member]
            if status == "Completed":
                return _jsonable(description)
            if status in _TERMINAL_FAILURES:
                raise SyncJobFailedError(_jsonable(description))
            return None

        return describe_until_terminal

    def _eval_sync(self, env: Any, sync_resolver: Any, **kwargs: Any) -> Any:
        # A .sync job reports through its status only; no task token ever arrives, so moto's token-listening
        # thread is not started (it raced with the job's own polling under load).
        kwargs["callback_endpoint"] = None
        outcome = super()._eval_sync(env=env, sync_resolver=sync_resolver, **kwargs)
        if outcome is None and not env.is_running():
            self._stop_abandoned_job(env)
        return outcome

    def _stop_abandoned_job(self, env: Any) -> None:
        # Step Functions stops a .sync job whose task is cancelled (failed sibling branch, StopExecution).
        # The request is the environment's: one state object serves every Map iteration running it at once.
        request = getattr(env, "_sagemaker_sync_request", None)
        job = SYNC_JOBS.get(self._get_boto_service_action())
        if not request or job is None:
            return
        parameters, region = request
        client = boto_client_for(region=region, service="sagemaker", state_credentials=None)
        with contextlib.suppress(ClientError):
            getattr(client, job.stop)(**{job.name_member: parameters[job.name_member]})

    def _eval_integration_pattern(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        env._sagemaker_sync_request = (normalised_parameters, resource_runtime_part.region)
        super()._eval_integration_pattern(
            env, resource_runtime_part, normalised_parameters, state_credentials
        )


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers use."""

    function_name: str
    timeout_seconds: int
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class LocalFunction:
    handler: LambdaHandler
    timeout_seconds: int = 900


_functions: dict[str, LocalFunction] = {}


def _function_key(name_or_arn: str) -> str:
    # FunctionName may be a name, a function ARN, or a qualified ARN.
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn


def lambda_error_payload(error: BaseException) -> dict[str, Any]:
    """The payload Lambda returns for an unhandled exception in a Python handler."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": "",
        # Lambda's Python runtime lists the frames only (the message is errorMessage, not repeated here).
        "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__))[-3:],
    }


class InProcessLambdaService(state_task_service_lambda.StateTaskServiceLambda):
    """``lambda:invoke`` tasks call the project's handler in this process."""

    def _eval_service_task(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        name = _function_key(normalised_parameters["FunctionName"])
        function = _functions.get(name)
        if function is None:
            raise ClientError(
                {
                    "Error": {"Code": "ResourceNotFoundException", "Message": f"Function not found: {name}"},
                    "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": "local"},
                },
                "Invoke",
            )
        payload = json.loads(normalised_parameters.get("Payload") or b"{}")
        try:
            result = function.handler(payload, LambdaContext(name, function.timeout_seconds))
            # Lambda hands back JSON: whatever does not survive a JSON round trip would fail there too.
            result = json.loads(json.dumps(result))
        except Exception as error:  # every handler failure is a function error, as in Lambda
            LOG.info("Lambda %s failed: %s", name, error)
            raise lambda_eval_utils.LambdaFunctionErrorException(
                "Unhandled", json.dumps(lambda_error_payload(error))
            ) from error
        env.stack.append({"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": result})


def _branch_error_name(error_name: str | None) -> Any:
    """The error name a failed branch/iteration propagates: reserved ``States.*`` names stay what they are."""
    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            pass
    return CustomErrorName(error_name)


# moto modules that turn a failed branch/iteration's error into an ErrorName (see the module docstring).
_ERROR_NAME_MODULES = (branches_decl, iteration_worker)
# Step Functions' spelling of service names in AWS SDK integration error names (moto lacks SageMaker's).
_SDK_ERROR_SERVICE_NAMES = {"sagemaker": "SageMaker"}


_ORIGINAL_INLINE_MAP_BODY = inline_iteration_component.InlineIterationComponent._eval_body


def _stop_iterations_of_a_failed_map(self: Any, env: Any) -> None:
    """moto's inline Map body, then (when an iteration failed) a stop of every iteration still running: the
    iterations' frames are the ones this body opened on the Map's environment."""
    before = {id(frame) for frame in env._frames}
    try:
        _ORIGINAL_INLINE_MAP_BODY(self, env)
    except Exception:
        for frame in list(env._frames):
            if id(frame) not in before:
                frame.set_stop(dt.datetime.now(tz=dt.UTC), None, None)
        raise


def _local_service_for(service_name: str) -> Any:
    if service_name == "sagemaker":
        return SageMakerTaskService()
    if service_name == "lambda":
        return InProcessLambdaService()
    return _ORIGINAL_FACTORY(service_name=service_name)


@contextlib.contextmanager
def installed(functions: dict[str, LocalFunction]) -> Iterator[None]:
    """Route SageMaker ``.sync`` and Lambda tasks of moto's interpreter to local mode while active."""
    with _install_lock:
        if state_task_factory.state_task_service_for is not _ORIGINAL_FACTORY:
            raise RuntimeError("local Step Functions hooks are already installed")
        if not callable(getattr(state_task_factory, "state_task_service_for", None)):
            raise RuntimeError(
                "moto's state_task_factory.state_task_service_for moved: update local/sfn_hooks.py"
            )
        for module in _ERROR_NAME_MODULES:
            if getattr(module, "CustomErrorName", None) is not CustomErrorName:
                raise RuntimeError(f"{module.__name__} no longer uses CustomErrorName: update local/sfn_hooks.py")
        if not isinstance(getattr(inline_iteration_component.InlineIterationComponent, "_eval_body", None),
                          type(_ORIGINAL_INLINE_MAP_BODY)) or not hasattr(Environment, "open_frame"):
            raise RuntimeError("moto's inline Map moved: update local/sfn_hooks.py")
        sdk_names = getattr(state_task_service_aws_sdk, "_SERVICE_ERROR_NAMES", None)
        if not isinstance(sdk_names, dict):
            raise RuntimeError("moto's aws-sdk _SERVICE_ERROR_NAMES moved: update local/sfn_hooks.py")
        saved_sdk_names = dict(sdk_names)
        sdk_names.update(_SDK_ERROR_SERVICE_NAMES)
        state_task_factory.state_task_service_for = _local_service_for
        for module in _ERROR_NAME_MODULES:
            module.CustomErrorName = _branch_error_name
        inline_iteration_component.InlineIterationComponent._eval_body = _stop_iterations_of_a_failed_map
        _functions.clear()
        _functions.update(functions)
    try:
        with payload_limit.installed():  # Step Functions' 256 KiB per state input/output/result
            yield
    finally:
        with _install_lock:
            state_task_factory.state_task_service_for = _ORIGINAL_FACTORY
            for module in _ERROR_NAME_MODULES:
                module.CustomErrorName = CustomErrorName
            inline_iteration_component.InlineIterationComponent._eval_body = _ORIGINAL_INLINE_MAP_BODY
            sdk_names.clear()
            sdk_names.update(saved_sdk_names)
            _functions.clear()
