"""The local SageMaker control plane: training jobs, models, endpoint configs, endpoints and tags.

``LocalSageMaker.handle(operation, params)`` takes a JSON-protocol request (what boto3 sends to
``X-Amz-Target: SageMaker.<Operation>``, already JSON-decoded) and returns the response dict (datetimes as
``datetime`` objects; the HTTP server serializes them) or raises ``SageMakerApiError``.

Requests are validated against botocore's ``sagemaker`` service model: unknown members, missing required
members and wrong types (botocore's ``ParamValidator``), then the constraints AWS enforces server-side that
botocore does not (string length, ``pattern``, enum values, numeric ranges, list/map sizes). Failures are a
``ValidationException`` worded like AWS's ("1 validation error detected: Value 'x' at 'trainingJobName' failed to
satisfy constraint: ..."). Semantic errors use the codes and messages AWS answers with for these APIs
(seen in public error reports): a missing training job is ``ValidationException: Requested resource not
found.``; a missing model / endpoint config / endpoint is ``ValidationException: Could not find model "<arn>".``
(resp. ``endpoint configuration``, ``endpoint``); a duplicate training job is ``ResourceInUse``; a duplicate
model / config / endpoint is ``ValidationException: Cannot create already existing ... "<arn>".``; an empty
training prefix is ``ValidationException: No S3 objects found under S3 URL ...``. Tag calls on an unknown ARN
answer ``ValidationException`` (not verified against AWS).

Lifecycles (times are *simulated* seconds; the thread sleeps ``simulated × time_scale`` real seconds, so
``time_scale=0`` runs as fast as the machine allows, ``1`` in real time):
- Training job: ``InProgress`` with SecondaryStatus ``Starting`` (instances launching, ``STARTING_SECONDS``) →
  ``Downloading`` (reads every host's S3 objects) → ``Training`` (``local.linear_learner``; hyperparameter
  errors fail the job here, as the algorithm reports them) → ``Uploading`` (writes
  ``<S3OutputPath>/<job>/output/model.tar.gz``) → ``Completed``; or ``Failed`` with ``FailureReason``;
  ``StopTrainingJob`` → ``Stopping`` → ``Stopped``; exceeding ``MaxRuntimeInSeconds`` of simulated training
  time → ``Stopped`` with SecondaryStatus ``MaxRuntimeExceeded`` (``MaxWaitTimeExceeded`` for spot jobs whose
  MaxWaitTimeInSeconds runs out first).
- ``TrainingStartTime`` = CreationTime + STARTING_SECONDS; ``TrainingEndTime`` = start + simulated cluster
  training time (download + setup + compute, see ``local.linear_learner``) + upload. These are on the
  simulated timeline, so with a small ``time_scale`` they can lie ahead of the wall clock.
  ``TrainingTimeInSeconds`` = end - start; ``BillableTimeInSeconds`` = training time (wall clock, as AWS
  defines it: callers multiply by InstanceCount), times ``(1 - spot_savings)`` for managed spot jobs; the
  savings percentage is reported in the final secondary status message ("Managed spot training savings:
  70.0%"), as the SDK prints it.
- Endpoint: ``Creating`` (``ENDPOINT_CREATING_SECONDS``) → loads the first variant's model artifact from S3,
  registers it in the hosting registry → ``InService``; if the artifact cannot be read or is not a local model,
  ``Failed`` with a FailureReason. ``DeleteEndpoint`` → ``Deleting`` → unregistered and gone.
- Logs (``local.sagemaker_logs``, through the CloudWatch Logs client, moto's in local mode): when a job starts
  ``Downloading``, one stream per host ``<job>/algo-<i>-<epoch seconds>`` in ``/aws/sagemaker/TrainingJobs``;
  when an endpoint's instances come up, ``/aws/sagemaker/Endpoints/<name>`` with a stream per instance
  (``<variant>/i-...``). Like SageMaker, it never deletes them: the run's clean-up does.

Quotas (``quotas=``, a ``local.service_quotas.LocalServiceQuotas`` or ``{quota name: value}``): AWS's instance
quotas by name; ``CreateTrainingJob`` and ``CreateEndpoint`` answer ``ResourceLimitExceeded`` as SageMaker does
when the instances of running jobs (``InProgress``/``Stopping``; spot and on-demand counted apart) or of
endpoints (any status but ``Failed``) plus the request would pass one. The same values are served as Service
Quotas (the pipeline's pre-flight reads them).

Fault injection (``FaultPlan``, for tests): keys are ``fnmatch`` patterns of names or operations.
``training_failures``: job name → FailureReason the job fails with during ``Training``;
``endpoint_failures``: endpoint name → FailureReason the endpoint fails with while ``Creating``;
``throttle``: operation → how many calls answer ``ThrottlingException: Rate exceeded`` before the next succeeds;
``spot_capacity_unavailable``: job name patterns whose managed spot request finds no capacity: the job waits in
``Starting`` ("Insufficient capacity ...") until ``MaxWaitTimeInSeconds`` runs out, then ends ``Stopped`` with
SecondaryStatus ``MaxWaitTimeExceeded`` (an on-demand job is not affected);
``slow_training`` / ``slow_endpoints``: name → *real* seconds a job stays ``Starting`` / an endpoint stays
``Creating`` before its lifecycle goes on (independent of ``time_scale``, so a test can act while it is in
progress; ``StopTrainingJob`` and ``shutdown`` cut a job's wait short);
``invocation_failures``: endpoint name → message its container answers every invocation with (HTTP 500, which
the runtime reports as ``ModelError``); applied by ``local.hosting.EndpointRegistry``.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import boto3
import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_to_aware_datetime
from botocore.validate import ParamValidator

from local import fake_aws, linear_learner
from local.channels import Shard, download_channels, s3_location
from local.errors import SageMakerApiError, TrainingFailedError, TrainingStoppedError
from local.linear_learner import ClusterModel, EpochProgress, TrainingResult
from local.linear_model import LinearModel, ModelArtifactError
from local.sagemaker_logs import SageMakerLogs
from local.service_quotas import LocalServiceQuotas

STARTING_SECONDS = 90.0  # assumption: instance provisioning ("Starting"), before TrainingStartTime
UPLOADING_SECONDS = 3.0
ENDPOINT_CREATING_SECONDS = 240.0
ENDPOINT_DELETING_SECONDS = 10.0
DEFAULT_SPOT_SAVINGS = 0.7
DEFAULT_MAX_RESULTS = 10
LINEAR_LEARNER_IMAGE = re.compile(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.[a-z0-9.]+/linear-learner(:[\w.-]+|@sha256:\w+)?")
SUPPORTED_OPERATIONS = (
    "CreateTrainingJob",
    "DescribeTrainingJob",
    "StopTrainingJob",
    "ListTrainingJobs",
    "CreateModel",
    "DescribeModel",
    "DeleteModel",
    "ListModels",
    "CreateEndpointConfig",
    "DescribeEndpointConfig",
    "DeleteEndpointConfig",
    "ListEndpointConfigs",
    "CreateEndpoint",
    "DescribeEndpoint",
    "DeleteEndpoint",
    "ListEndpoints",
    "AddTags",
    "ListTags",
    "DeleteTags",
)

Listener = Callable[[str, dict[str, Any]], None]
_T = TypeVar("_T")
LOG = logging.getLogger(__name__)


class ModelRegistry(Protocol):
    """What the control plane needs from the hosting side (``local.hosting.EndpointRegistry``)."""

    def register(self, name: str, model: LinearModel) -> None: ...

    def unregister(self, name: str) -> None: ...


@dataclass
class FaultPlan:
    """Injected failures; see the module docstring."""

    training_failures: Mapping[str, str] = field(default_factory=dict)
    endpoint_failures: Mapping[str, str] = field(default_factory=dict)
    throttle: dict[str, int] = field(default_factory=dict)
    spot_capacity_unavailable: tuple[str, ...] = ()
    slow_training: Mapping[str, float] = field(default_factory=dict)
    slow_endpoints: Mapping[str, float] = field(default_factory=dict)
    invocation_failures: Mapping[str, str] = field(default_factory=dict)

    def no_spot_capacity(self, job_name: str) -> bool:
        return any(fnmatch.fnmatchcase(job_name, pattern) for pattern in self.spot_capacity_unavailable)

    def training_delay(self, job_name: str) -> float:
        return _first_match(self.slow_training, job_name) or 0.0

    def endpoint_delay(self, endpoint_name: str) -> float:
        return _first_match(self.slow_endpoints, endpoint_name) or 0.0

    def training_failure(self, job_name: str) -> str | None:
        return _first_match(self.training_failures, job_name)

    def endpoint_failure(self, endpoint_name: str) -> str | None:
        return _first_match(self.endpoint_failures, endpoint_name)

    def take_throttle(self, operation: str) -> bool:
        for pattern, remaining in self.throttle.items():
            if remaining > 0 and fnmatch.fnmatchcase(operation, pattern):
                self.throttle[pattern] = remaining - 1
                return True
        return False


def _first_match(patterns: Mapping[str, _T], name: str) -> _T | None:
    return next((reason for pattern, reason in patterns.items() if fnmatch.fnmatchcase(name, pattern)), None)


# ------------------------------------------------------------------------------------------------ validation


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _aws_path(botocore_name: str) -> str:
    """``InputDataConfig[0].ChannelName`` → ``inputDataConfig.1.member.channelName`` (AWS's spelling)."""
    path = re.sub(r"\[(\d+)\]", lambda m: f".{int(m.group(1)) + 1}.member", botocore_name)
    return ".".join(_lower_first(part) for part in path.split("."))


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


@functools.cache
def sagemaker_service_model() -> ServiceModel:
    """botocore's SageMaker model (loading it takes a noticeable fraction of a second, so once)."""
    return botocore.session.get_session().get_service_model("sagemaker")


class RequestValidator:
    """Validates requests the way the SageMaker front end does (see the module docstring)."""

    def __init__(self) -> None:
        self.service_model = sagemaker_service_model()
        self._param_validator = ParamValidator()

    def operation_model(self, operation: str) -> OperationModel:
        return self.service_model.operation_model(operation)

    def validate(self, operation: str, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise SageMakerApiError("SerializationException", "The request body must be a JSON object")
        shape = self.operation_model(operation).input_shape
        errors: list[str] = []
        report = self._param_validator.validate(dict(params), shape)
        for kind, raw_name, details in report._errors:  # the structured errors behind generate_report()
            name = raw_name.lstrip(".")
            path = _aws_path(name) if name else _lower_first(shape.name)
            if kind == "missing required field":
                member = details["required_name"]
                errors.append(
                    f"Value null at '{_aws_path(f'{name}.{member}' if name else member)}' failed to satisfy "
                    "constraint: Member must not be null"
                )
            elif kind == "unknown field":
                errors.append(
                    f"Member '{details['unknown_param']}' at '{path}' is not a known member; valid members: "
                    + ", ".join(details["valid_names"])
                )
            elif kind == "invalid type":
                errors.append(
                    f"Value '{_shown(details['param'])}' at '{path}' failed to satisfy constraint: Member must be "
                    f"of type {self._type_name(details['valid_types'])}"
                )
            elif kind in ("invalid range", "invalid length"):
                what = "value" if kind == "invalid range" else "length"
                errors.append(
                    f"Value '{_shown(details['param'])}' at '{path}' failed to satisfy constraint: Member must have "
                    f"{what} greater than or equal to {details['min_allowed']}"
                )
            else:
                errors.append(f"Value at '{path}' failed to satisfy constraint: {kind}")
        if not errors:
            self._constraints(params, shape, "", errors)
        if errors:
            count = len(errors)
            raise SageMakerApiError(
                "ValidationException",
                f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors),
            )

    @staticmethod
    def _type_name(valid_types: list[str]) -> str:
        text = " ".join(valid_types)
        for word in ("datetime", "bool", "float", "int", "str", "dict", "list"):
            if word in text:
                return {
                    "int": "integer",
                    "float": "number",
                    "bool": "boolean",
                    "str": "string",
                    "dict": "structure",
                    "list": "list",
                    "datetime": "timestamp",
                }[word]
        return text

    def _constraints(self, value: Any, shape: Shape, path: str, errors: list[str]) -> None:
        meta = shape.metadata
        where = path or _lower_first(shape.name)
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                if name in value and value[name] is not None:
                    child = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
                    self._constraints(value[name], member, child, errors)
            return
        if shape.type_name == "list":
            self._size(len(value), meta, value, where, errors)
            for index, item in enumerate(value):
                self._constraints(item, shape.member, f"{where}.{index + 1}.member", errors)
            return
        if shape.type_name == "map":
            self._size(len(value), meta, value, where, errors)
            for key, item in value.items():
                self._constraints(key, shape.key, f"{where}.key", errors)
                self._constraints(item, shape.value, f"{where}.{key}", errors)
            return
        if shape.type_name == "string":
            self._size(len(value), meta, value, where, errors)
            pattern = meta.get("pattern")
            if pattern is not None:
                try:
                    matched = re.fullmatch(pattern, value, flags=re.DOTALL) is not None
                except re.error:
                    matched = True  # a Java-only construct; AWS checks it, we cannot
                if not matched:
                    errors.append(
                        f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must satisfy "
                        f"regular expression pattern: {pattern}"
                    )
            if shape.enum and value not in shape.enum:
                errors.append(
                    f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must satisfy enum "
                    f"value set: [{', '.join(shape.enum)}]"
                )
            return
        if shape.type_name in ("integer", "long", "float", "double"):
            if "min" in meta and value < meta["min"]:
                errors.append(
                    f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value greater "
                    f"than or equal to {meta['min']}"
                )
            if "max" in meta and value > meta["max"]:
                errors.append(
                    f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value less "
                    f"than or equal to {meta['max']}"
                )

    @staticmethod
    def _size(size: int, meta: Mapping[str, Any], value: Any, where: str, errors: list[str]) -> None:
        if "min" in meta and size < meta["min"]:
            errors.append(
                f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must have length "
                f"greater than or equal to {meta['min']}"
            )
        if "max" in meta and size > meta["max"]:
            errors.append(
                f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must have length "
                f"less than or equal to {meta['max']}"
            )


def _validation(message: str) -> SageMakerApiError:
    return SageMakerApiError("ValidationException", message)


def _null(member: str) -> SageMakerApiError:
    return _validation(
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    )


# ------------------------------------------------------------------------------------------------ resources


@dataclass
class _TrainingJob:
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime
    status: str = "InProgress"
    secondary: str = "Starting"
    failure_reason: str | None = None
    modified: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    artifact_uri: str | None = None
    training_seconds: int | None = None
    billable_seconds: int | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    result: TrainingResult | None = None
    simulated_elapsed: float = 0.0


@dataclass
class _Model:
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime


@dataclass
class _EndpointConfig:
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime


@dataclass
class _Endpoint:
    name: str
    arn: str
    config_name: str
    created: datetime
    modified: datetime
    status: str = "Creating"
    failure_reason: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    instances: dict[str, int] = field(default_factory=dict)  # instance type -> count it holds (quotas)


class LocalSageMaker:
    """The control plane; thread-safe; training and endpoint lifecycles run on daemon threads."""

    def __init__(
        self,
        *,
        registry: ModelRegistry | None = None,
        s3_client: Any = None,
        logs_client: Any = None,
        region: str = fake_aws.REGION,
        account_id: str = fake_aws.ACCOUNT_ID,
        time_scale: float = 0.0,
        cluster: ClusterModel | None = None,
        faults: FaultPlan | None = None,
        listener: Listener | None = None,
        spot_savings: float = DEFAULT_SPOT_SAVINGS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        quotas: LocalServiceQuotas | Mapping[str, float] | None = None,
    ) -> None:
        self.registry = registry
        # Instance quotas, enforced on CreateTrainingJob/CreateEndpoint and served as Service Quotas.
        self.quotas = (quotas if isinstance(quotas, LocalServiceQuotas)
                       else LocalServiceQuotas(quotas, region=region, account_id=account_id))
        self.region = region
        self.account_id = account_id
        self.time_scale = time_scale
        self.cluster = cluster or ClusterModel()
        self.faults = faults or FaultPlan()
        self.listener = listener
        self.spot_savings = spot_savings
        self.clock = clock
        self._s3_client = s3_client
        self._logs_client = logs_client
        self.sagemaker_logs = SageMakerLogs(lambda: self.logs)
        self._validator = RequestValidator()
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._jobs: dict[str, _TrainingJob] = {}
        self._models: dict[str, _Model] = {}
        self._configs: dict[str, _EndpointConfig] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._tags: dict[str, list[dict[str, str]]] = {}

    # -------------------------------------------------------------------------------------------- plumbing

    @property
    def s3(self) -> Any:
        if self._s3_client is None:
            self._s3_client = boto3.client("s3", region_name=self.region)
        return self._s3_client

    @property
    def logs(self) -> Any:
        if self._logs_client is None:
            self._logs_client = boto3.client("logs", region_name=self.region)
        return self._logs_client

    def handle(self, operation: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Answer one API call: validate, then run ``_op_<operation in snake case>``."""
        if operation not in SUPPORTED_OPERATIONS:
            raise SageMakerApiError("UnknownOperationException", f"The local SageMaker does not implement {operation}")
        request = dict(params or {})
        self._validator.validate(operation, request)
        with self._lock:
            if self.faults.take_throttle(operation):
                raise SageMakerApiError("ThrottlingException", "Rate exceeded")
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(
            self, "_op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        )
        return handler(request)

    def arn(self, kind: str, name: str) -> str:
        # SageMaker lowercases names in ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    def _emit(self, kind: str, **payload: Any) -> None:
        if self.listener is None:
            return
        try:
            self.listener(kind, payload)
        except Exception:  # a broken progress display must not fail the job
            LOG.exception("listener failed on %s %s", kind, payload)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"local-sagemaker-{target.__name__}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _sleep(self, simulated_seconds: float, interrupt: threading.Event | None = None) -> None:
        """Let ``simulated_seconds`` pass (scaled); ``close()`` or ``interrupt`` (a job's stop) cut it short."""
        if self.time_scale > 0 and simulated_seconds > 0:
            (interrupt or self._closing).wait(simulated_seconds * self.time_scale)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every background job/endpoint thread has finished; True when they all did."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return True
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                return False
            alive[0].join(remaining)

    def close(self) -> None:
        """Stop every running training job and stop sleeping; threads end at their next check."""
        self._closing.set()
        with self._lock:
            for job in self._jobs.values():
                job.stop_requested.set()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """``close`` and wait for the background threads; True when they all ended in time."""
        self.close()
        return self.wait_idle(timeout)

    def training_report(self, name: str) -> TrainingResult | None:
        """Local-only detail of a finished job (per-host objects and rows, simulated time breakdown)."""
        with self._lock:
            job = self._jobs.get(name)
            return job.result if job else None

    # -------------------------------------------------------------------------------------------- training

    def _op_create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        for member in ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition"):
            if member not in request:
                raise _null(_lower_first(member))
        algorithm = request["AlgorithmSpecification"]
        image = algorithm.get("TrainingImage")
        if not image or not LINEAR_LEARNER_IMAGE.fullmatch(image):
            raise _validation(
                f"Local mode runs only the built-in linear-learner image "
                f"(<account>.dkr.ecr.<region>.amazonaws.com/linear-learner:1); got TrainingImage {image!r}"
            )
        resource = request["ResourceConfig"]
        if "InstanceCount" not in resource or "InstanceType" not in resource:
            raise _validation("ResourceConfig needs InstanceType and InstanceCount for a training job")
        if resource["InstanceCount"] < 1:
            raise _validation(f"ResourceConfig.InstanceCount must be at least 1; got {resource['InstanceCount']}")
        stopping = request["StoppingCondition"]
        spot = bool(request.get("EnableManagedSpotTraining"))
        if "MaxWaitTimeInSeconds" in stopping:
            if not spot:
                raise _validation("MaxWaitTimeInSeconds can only be set when EnableManagedSpotTraining is true")
            if stopping["MaxWaitTimeInSeconds"] < stopping.get("MaxRuntimeInSeconds", 86400):
                raise _validation("MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds")
        elif spot:
            raise _validation("MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true")
        channels = request.get("InputDataConfig", [])
        names = [channel["ChannelName"] for channel in channels]
        if len(set(names)) != len(names):
            raise _validation(f"Channel names must be unique; got {names}")
        for channel in channels:
            source = channel["DataSource"].get("S3DataSource")
            if source is None:
                raise _validation(f"Channel {channel['ChannelName']}: local mode reads S3DataSource channels only")
            if source["S3DataType"] != "S3Prefix":
                raise _validation(
                    f"Channel {channel['ChannelName']}: S3DataType {source['S3DataType']} is not supported "
                    "in local mode (use S3Prefix)"
                )
            if channel.get("CompressionType", "None") != "None":
                raise _validation(f"Channel {channel['ChannelName']}: CompressionType Gzip is not supported locally")
        output_path = request["OutputDataConfig"]["S3OutputPath"]
        if not output_path.startswith("s3://"):
            raise _validation(f"S3OutputPath {output_path!r} is not an s3:// URI")
        with self._lock:
            if name in self._jobs:
                raise SageMakerApiError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a training job with "
                    f"this name already exists ({self.arn('training-job', name)})",
                )
        for channel in channels:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            try:
                found = self._has_objects(uri)
            except Exception:  # a missing bucket lists nothing, as AWS words it
                found = False
            if not found:
                bucket = uri[5:].split("/", 1)[0]
                raise _validation(
                    f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that the '
                    f"bucket exists in the selected region ({self.region}), that objects exist under that S3 "
                    f'prefix, and that the role "{request["RoleArn"]}" has "s3:ListBucket" permissions on bucket '
                    f'"{bucket}".'
                )
        now = self.clock()
        job = _TrainingJob(name=name, arn=self.arn("training-job", name), request=request, created=now, modified=now)
        job.transitions.append(self._transition("Starting", "Launching requested ML instances", now))
        with self._lock:
            if name in self._jobs:  # lost a race with a concurrent create of the same name
                raise SageMakerApiError("ResourceInUse", f"Training job {name} already exists ({job.arn})")
            held = [(j.request["ResourceConfig"]["InstanceType"], int(j.request["ResourceConfig"]["InstanceCount"]))
                    for j in self._jobs.values() if j.status in ("InProgress", "Stopping")
                    and bool(j.request.get("EnableManagedSpotTraining")) == spot]
            self.quotas.check_training(resource["InstanceType"], int(resource["InstanceCount"]), held, spot=spot)
            self._jobs[name] = job
            self._tags[job.arn] = list(request.get("Tags", []))
        self._emit("training.status", name=name, status=job.status, secondary=job.secondary)
        self._spawn(self._run_training, job)
        return {"TrainingJobArn": job.arn}

    def _has_objects(self, uri: str) -> bool:
        bucket, prefix = s3_location(uri)
        listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        return bool(listing.get("KeyCount", 0))

    @staticmethod
    def _transition(status: str, message: str, start: datetime) -> dict[str, Any]:
        return {"Status": status, "StartTime": start, "StatusMessage": message}

    def _advance(self, job: _TrainingJob, secondary: str, message: str, at: datetime) -> None:
        with self._lock:
            if job.transitions:
                job.transitions[-1]["EndTime"] = at
            job.transitions.append(self._transition(secondary, message, at))
            job.secondary = secondary
            job.modified = self.clock()
        self._emit("training.status", name=job.name, status=job.status, secondary=secondary)

    def _run_training(self, job: _TrainingJob) -> None:
        request = job.request
        resource = request["ResourceConfig"]
        hosts = int(resource["InstanceCount"])
        stopping = request["StoppingCondition"]
        max_runtime = float(stopping.get("MaxRuntimeInSeconds", 86400))
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        start = job.created + timedelta(seconds=STARTING_SECONDS)
        job.start = start
        elapsed = 0.0  # simulated seconds since TrainingStartTime
        try:
            delay = self.faults.training_delay(job.name)
            if delay > 0:  # injected: instances slow to launch (real seconds)
                job.stop_requested.wait(delay)  # close() sets every job's stop_requested too
            if max_wait is not None and self.faults.no_spot_capacity(job.name):
                self._wait_for_spot_capacity(job, float(max_wait))
                return
            self._sleep(STARTING_SECONDS, job.stop_requested)
            self._check_stop(job, 0.0, max_runtime, max_wait)
            self._advance(job, "Downloading", "Downloading input data", start)
            self.sagemaker_logs.training_started(job.name, hosts, self.clock())
            channels = {c["ChannelName"]: c for c in request.get("InputDataConfig", [])}
            host_shards, validation, test, download_bytes = self._download(channels, hosts)
            download_seconds = download_bytes / self.cluster.download_bytes_per_second
            self._sleep(download_seconds, job.stop_requested)
            elapsed = download_seconds
            self._check_stop(job, elapsed, max_runtime, max_wait)
            self._advance(
                job,
                "Training",
                "Training image download completed. Training in progress.",
                start + timedelta(seconds=elapsed),
            )
            params = linear_learner.parse_hyperparameters(request.get("HyperParameters", {}))
            injected = self.faults.training_failure(job.name)
            if injected is not None:
                raise TrainingFailedError(injected)

            def on_epoch(progress: EpochProgress) -> None:
                self._emit(
                    "training.epoch",
                    name=job.name,
                    epoch=progress.epoch,
                    epochs=progress.epochs,
                    train_loss=progress.train_loss,
                    validation_loss=progress.validation_loss,
                    simulated_seconds=progress.simulated_seconds,
                )

            def should_stop(simulated: float) -> bool:
                job.simulated_elapsed = simulated
                return (
                    job.stop_requested.is_set()
                    or simulated > max_runtime
                    or (max_wait is not None and STARTING_SECONDS + simulated > max_wait)
                )

            result = linear_learner.train(
                params,
                host_shards,
                validation,
                test,
                instance_type=resource["InstanceType"],
                cluster=self.cluster,
                progress=on_epoch,
                should_stop=should_stop,
            )
            if self.time_scale > 0:  # the training phase lasts its simulated time, scaled, wall time included
                remaining = (result.simulated_seconds - elapsed) * self.time_scale - result.wall_seconds
                self._sleep(max(remaining, 0.0) / self.time_scale, job.stop_requested)
            elapsed = result.simulated_seconds
            self._check_stop(job, elapsed, max_runtime, max_wait)
            self._advance(job, "Uploading", "Uploading generated training model", start + timedelta(seconds=elapsed))
            artifact = self._upload(job, result.model)
            self._sleep(UPLOADING_SECONDS, job.stop_requested)
            elapsed += UPLOADING_SECONDS
            self._finish(job, "Completed", elapsed, start, result=result, artifact=artifact)
        except TrainingStoppedError:
            elapsed = max(elapsed, job.simulated_elapsed)
            self._finish_stopped(job, elapsed, start, max_runtime, max_wait)
        except TrainingFailedError as failure:
            self._finish(job, "Failed", elapsed, start, failure_reason=failure.reason)
        except Exception as error:  # an unexpected error is the algorithm's, as AWS reports it
            self._finish(
                job, "Failed", elapsed, start, failure_reason=f"AlgorithmError: {type(error).__name__}: {error}"
            )

    def _wait_for_spot_capacity(self, job: _TrainingJob, max_wait: float) -> None:
        """No spot capacity: the job waits in Starting until MaxWaitTimeInSeconds, then SageMaker ends it."""
        with self._lock:
            job.transitions[-1]["StatusMessage"] = (
                "Insufficient capacity error from EC2 while launching instances, retrying!"
            )
            job.start = None  # it never started training
        self._emit("training.status", name=job.name, status=job.status, secondary=job.secondary)
        self._sleep(max_wait, job.stop_requested)
        if job.stop_requested.is_set():
            self._finish(job, "Stopped", 0.0, job.created)
            return
        self._finish(
            job,
            "Stopped",
            0.0,
            job.created,
            secondary="MaxWaitTimeExceeded",
            message=(
                f"Training job reached the MaxWaitTimeInSeconds stopping condition ({max_wait:g}s) while waiting "
                "for spot capacity"
            ),
        )

    def _check_stop(self, job: _TrainingJob, elapsed: float, max_runtime: float, max_wait: float | None) -> None:
        job.simulated_elapsed = elapsed
        if (
            job.stop_requested.is_set()
            or elapsed > max_runtime
            or (max_wait is not None and STARTING_SECONDS + elapsed > max_wait)
        ):
            raise TrainingStoppedError()

    def _download(
        self, channels: Mapping[str, dict[str, Any]], hosts: int
    ) -> tuple[list[list[Shard]], list[Shard], list[Shard], int]:
        """Each host's train shards, the validation and test shards, and the most bytes any host downloads."""
        data = download_channels(self.s3, channels, hosts)
        return data.host_shards, data.validation, data.test, data.download_bytes

    def _upload(self, job: _TrainingJob, model: LinearModel) -> str:
        output = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        uri = f"{output}/{job.name}/output/model.tar.gz"
        bucket, key = s3_location(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=model.to_tar_gz())
        return uri

    def _finish(
        self,
        job: _TrainingJob,
        status: str,
        elapsed: float,
        start: datetime,
        *,
        result: TrainingResult | None = None,
        artifact: str | None = None,
        failure_reason: str | None = None,
        secondary: str | None = None,
        message: str | None = None,
    ) -> None:
        end = start + timedelta(seconds=elapsed)
        training_seconds = max(math.ceil(elapsed), 1)
        # AWS: billable time is wall-clock time; callers multiply by InstanceCount for instance-seconds.
        billable = training_seconds
        spot = bool(job.request.get("EnableManagedSpotTraining"))
        if spot:
            billable = max(math.ceil(round(billable * (1 - self.spot_savings), 9)), 1)  # 10 s x 0.3 is 3 s, not 4
        default_messages = {
            "Completed": "Training job completed",
            "Failed": f"Training job failed: {failure_reason}",
            "Stopped": "Training job stopped",
        }
        final_message = message or default_messages[status]
        if spot and status == "Completed":
            savings = (1 - billable / training_seconds) * 100
            final_message += f". Managed spot training savings: {savings:.1f}%"
        with self._lock:
            job.end = end
            job.training_seconds = training_seconds
            job.billable_seconds = billable
            job.failure_reason = failure_reason
            job.result = result
            job.artifact_uri = artifact
            if result is not None:
                job.metrics = dict(result.metrics)
        self._advance(job, secondary or status, final_message, end)
        with self._lock:
            job.transitions[-1]["EndTime"] = end
            job.status = status
            job.modified = self.clock()
        self._emit("training.status", name=job.name, status=status, secondary=job.secondary, reason=failure_reason)

    def _finish_stopped(
        self, job: _TrainingJob, elapsed: float, start: datetime, max_runtime: float, max_wait: float | None
    ) -> None:
        if job.stop_requested.is_set():
            self._finish(job, "Stopped", elapsed, start)
        elif max_wait is not None and STARTING_SECONDS + elapsed > max_wait:
            self._finish(
                job,
                "Stopped",
                elapsed,
                start,
                secondary="MaxWaitTimeExceeded",
                message="Training job reached the MaxWaitTimeInSeconds stopping condition",
            )
        else:
            self._finish(
                job,
                "Stopped",
                min(elapsed, max_runtime),
                start,
                secondary="MaxRuntimeExceeded",
                message=f"Training job exceeded MaxRuntimeInSeconds ({max_runtime:g}s) and was stopped",
            )

    def _job(self, name: str) -> _TrainingJob:
        job = self._jobs.get(name)
        if job is None:
            raise _validation("Requested resource not found.")
        return job

    def _op_describe_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            job = self._job(request["TrainingJobName"])
            req = job.request
            channels = []
            for channel in req.get("InputDataConfig", []):
                filled = {**channel, "DataSource": {"S3DataSource": dict(channel["DataSource"]["S3DataSource"])}}
                filled["DataSource"]["S3DataSource"].setdefault("S3DataDistributionType", "FullyReplicated")
                filled.setdefault("CompressionType", "None")
                filled.setdefault("RecordWrapperType", "None")
                channels.append(filled)
            response: dict[str, Any] = {
                "TrainingJobName": job.name,
                "TrainingJobArn": job.arn,
                "ModelArtifacts": {"S3ModelArtifacts": job.artifact_uri or ""},
                "TrainingJobStatus": job.status,
                "SecondaryStatus": job.secondary,
                "HyperParameters": dict(req.get("HyperParameters", {})),
                "AlgorithmSpecification": {**req["AlgorithmSpecification"], "EnableSageMakerMetricsTimeSeries": False},
                "RoleArn": req["RoleArn"],
                "InputDataConfig": channels,
                "OutputDataConfig": dict(req["OutputDataConfig"]),
                "ResourceConfig": dict(req["ResourceConfig"]),
                "StoppingCondition": dict(req["StoppingCondition"]),
                "CreationTime": job.created,
                "LastModifiedTime": job.modified,
                "SecondaryStatusTransitions": [dict(t) for t in job.transitions],
                "EnableNetworkIsolation": bool(req.get("EnableNetworkIsolation", False)),
                "EnableInterContainerTrafficEncryption": bool(req.get("EnableInterContainerTrafficEncryption", False)),
                "EnableManagedSpotTraining": bool(req.get("EnableManagedSpotTraining", False)),
            }
            if job.secondary != "Starting" and job.start is not None:
                response["TrainingStartTime"] = job.start
            if job.end is not None:
                response["TrainingEndTime"] = job.end
                response["TrainingTimeInSeconds"] = job.training_seconds
                response["BillableTimeInSeconds"] = job.billable_seconds
            if job.failure_reason:
                response["FailureReason"] = job.failure_reason
            if job.metrics and job.end is not None:
                response["FinalMetricDataList"] = [
                    {"MetricName": name, "Value": value, "Timestamp": job.end}
                    for name, value in sorted(job.metrics.items())
                ]
            for optional in ("VpcConfig", "CheckpointConfig", "Environment", "RetryStrategy", "ExperimentConfig"):
                if optional in req:
                    response[optional] = req[optional]
            return response

    def _op_stop_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            job = self._job(request["TrainingJobName"])
            if job.status != "InProgress":
                raise _validation(f"The request was rejected because the training job is in status {job.status}.")
            job.status = "Stopping"
            job.stop_requested.set()
            job.modified = self.clock()
        self._advance(job, "Stopping", "Stopping the training job", self.clock())
        return {}

    def _op_list_training_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            items = [
                {
                    "TrainingJobName": job.name,
                    "TrainingJobArn": job.arn,
                    "CreationTime": job.created,
                    "LastModifiedTime": job.modified,
                    "TrainingJobStatus": job.status,
                    **({"TrainingEndTime": job.end} if job.end else {}),
                    "SecondaryStatus": job.secondary,
                }
                for job in self._jobs.values()
            ]
        page, token = _list(items, request, "TrainingJobName", "TrainingJobStatus")
        return {"TrainingJobSummaries": page, **token}

    # -------------------------------------------------------------------------------------------- models

    def _op_create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["ModelName"]
        if "PrimaryContainer" not in request and not request.get("Containers"):
            raise _validation("Either PrimaryContainer or Containers must be specified")
        if "PrimaryContainer" in request and request.get("Containers"):
            raise _validation("Only one of PrimaryContainer or Containers can be specified")
        arn = self.arn("model", name)
        with self._lock:
            if name in self._models:
                raise _validation(f'Cannot create already existing model "{arn}".')
            self._models[name] = _Model(name, arn, request, self.clock())
            self._tags[arn] = list(request.get("Tags", []))
        return {"ModelArn": arn}

    def _model(self, name: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise _validation(f'Could not find model "{self.arn("model", name)}".')
        return model

    def _op_describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._model(request["ModelName"])
            response = {
                "ModelName": model.name,
                "ModelArn": model.arn,
                "CreationTime": model.created,
                "EnableNetworkIsolation": bool(model.request.get("EnableNetworkIsolation", False)),
            }
            for optional in (
                "PrimaryContainer",
                "Containers",
                "ExecutionRoleArn",
                "VpcConfig",
                "InferenceExecutionConfig",
            ):
                if optional in model.request:
                    response[optional] = model.request[optional]
            return response

    def _op_delete_model(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._model(request["ModelName"])
            del self._models[model.name]
            self._tags.pop(model.arn, None)
        return {}

    def _op_list_models(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            items = [{"ModelName": m.name, "ModelArn": m.arn, "CreationTime": m.created} for m in self._models.values()]
        page, token = _list(items, request, "ModelName", None)
        return {"Models": page, **token}

    # -------------------------------------------------------------------------------------------- endpoint configs

    def _op_create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        arn = self.arn("endpoint-config", name)
        variants = request["ProductionVariants"]
        variant_names = [v["VariantName"] for v in variants]
        if len(set(variant_names)) != len(variant_names):
            raise _validation(f"Variant names must be unique within an endpoint configuration; got {variant_names}")
        with self._lock:
            for variant in variants:
                if "ModelName" not in variant:
                    raise _validation(f"Production variant {variant['VariantName']} needs a ModelName")
                self._model(variant["ModelName"])
            if name in self._configs:
                raise _validation(f'Cannot create already existing endpoint configuration "{arn}".')
            self._configs[name] = _EndpointConfig(name, arn, request, self.clock())
            self._tags[arn] = list(request.get("Tags", []))
        return {"EndpointConfigArn": arn}

    def _config(self, name: str) -> _EndpointConfig:
        config = self._configs.get(name)
        if config is None:
            raise _validation(f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".')
        return config

    def _op_describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            config = self._config(request["EndpointConfigName"])
            variants = [{"InitialVariantWeight": 1.0, **v} for v in config.request["ProductionVariants"]]
            response = {
                "EndpointConfigName": config.name,
                "EndpointConfigArn": config.arn,
                "ProductionVariants": variants,
                "CreationTime": config.created,
            }
            for optional in ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig"):
                if optional in config.request:
                    response[optional] = config.request[optional]
            return response

    def _op_delete_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            config = self._config(request["EndpointConfigName"])
            del self._configs[config.name]
            self._tags.pop(config.arn, None)
        return {}

    def _op_list_endpoint_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            items = [
                {"EndpointConfigName": c.name, "EndpointConfigArn": c.arn, "CreationTime": c.created}
                for c in self._configs.values()
            ]
        page, token = _list(items, request, "EndpointConfigName", None)
        return {"EndpointConfigs": page, **token}

    # -------------------------------------------------------------------------------------------- endpoints

    def _op_create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        arn = self.arn("endpoint", name)
        with self._lock:
            config = self._config(request["EndpointConfigName"])
            if name in self._endpoints:
                raise _validation(f'Cannot create already existing endpoint "{arn}".')
            now = self.clock()
            endpoint = _Endpoint(name, arn, config.name, now, now)
            for variant in config.request["ProductionVariants"]:
                if "InstanceType" in variant:  # serverless variants hold no instances
                    count = endpoint.instances.get(variant["InstanceType"], 0)
                    endpoint.instances[variant["InstanceType"]] = count + int(variant.get("InitialInstanceCount", 1))
            self.quotas.check_endpoint(endpoint.instances, [e.instances for e in self._endpoints.values()
                                                            if e.status != "Failed"])
            self._endpoints[name] = endpoint
            self._tags[arn] = list(request.get("Tags", []))
            variants = [dict(v) for v in config.request["ProductionVariants"]]
            models = {v["ModelName"]: self._models.get(v["ModelName"]) for v in variants}
        self._emit("endpoint.status", name=name, status="Creating")
        self._spawn(self._run_endpoint_creation, endpoint, variants, models)
        return {"EndpointArn": arn}

    def _run_endpoint_creation(
        self, endpoint: _Endpoint, variants: list[dict[str, Any]], models: dict[str, _Model | None]
    ) -> None:
        delay = self.faults.endpoint_delay(endpoint.name)
        if delay > 0:  # injected: an endpoint slow to come up (real seconds)
            self._closing.wait(delay)
        self._sleep(ENDPOINT_CREATING_SECONDS)
        failure = self.faults.endpoint_failure(endpoint.name)
        served: LinearModel | None = None
        deployed: list[dict[str, Any]] = []
        if failure is None:
            try:
                for variant in variants:
                    model = models.get(variant["ModelName"])
                    if model is None:
                        raise ModelArtifactError(f"model {variant['ModelName']} was deleted before deployment")
                    container = model.request.get("PrimaryContainer") or model.request["Containers"][0]
                    loaded = self._load_model(container, variant["VariantName"])
                    served = served or loaded  # the first variant answers invocations
                    deployed.append(self._deployed_variant(variant, container))
            except ModelArtifactError as error:
                failure = str(error)
        with self._lock:
            if self._endpoints.get(endpoint.name) is not endpoint or endpoint.status != "Creating":
                return  # deleted while creating
            # The instances ran the container (also when the model then failed to load): they logged.
            self.sagemaker_logs.endpoint_started(endpoint.name, [
                (v["VariantName"], int(v.get("InitialInstanceCount", 1))) for v in variants], self.clock())
            if failure is None and served is not None and self.registry is not None:
                self.registry.register(endpoint.name, served)
            endpoint.status = "Failed" if failure else "InService"
            endpoint.failure_reason = failure
            endpoint.variants = deployed if not failure else []
            endpoint.modified = self.clock()
        self._emit("endpoint.status", name=endpoint.name, status=endpoint.status, reason=failure)

    def _load_model(self, container: Mapping[str, Any], variant_name: str) -> LinearModel:
        url = container.get("ModelDataUrl")
        if not url:
            raise ModelArtifactError(
                f"The primary container for production variant {variant_name} has no ModelDataUrl; "
                "local mode serves only linear-learner model artifacts"
            )
        bucket, key = s3_location(url) if url.startswith("s3://") else ("", "")
        try:
            blob = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as error:
            raise ModelArtifactError(
                f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that there is an "
                "object located at the URL and that the role passed to CreateModel has permissions to download "
                f"the model. ({type(error).__name__})"
            ) from error
        try:
            return LinearModel.from_tar_gz(blob)
        except ModelArtifactError as error:
            raise ModelArtifactError(
                f'Failed to extract model data archive from URL "{url}". Please ensure that the object located at '
                f"the URL is a valid tar.gz archive. ({error})"
            ) from error

    def _deployed_variant(self, variant: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
        image = container.get("Image", "")
        count = int(variant.get("InitialInstanceCount", 1))
        weight = float(variant.get("InitialVariantWeight", 1.0))
        return {
            "VariantName": variant["VariantName"],
            "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": self.clock()}],
            "CurrentWeight": weight,
            "DesiredWeight": weight,
            "CurrentInstanceCount": count,
            "DesiredInstanceCount": count,
        }

    def _endpoint(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise _validation(f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return endpoint

    def _op_describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            endpoint = self._endpoint(request["EndpointName"])
            response: dict[str, Any] = {
                "EndpointName": endpoint.name,
                "EndpointArn": endpoint.arn,
                "EndpointConfigName": endpoint.config_name,
                "EndpointStatus": endpoint.status,
                "CreationTime": endpoint.created,
                "LastModifiedTime": endpoint.modified,
            }
            if endpoint.variants:
                response["ProductionVariants"] = [dict(v) for v in endpoint.variants]
            if endpoint.failure_reason:
                response["FailureReason"] = endpoint.failure_reason
            return response

    def _op_delete_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            endpoint = self._endpoint(request["EndpointName"])
            if endpoint.status == "Deleting":
                return {}
            endpoint.status = "Deleting"
            endpoint.modified = self.clock()
        self._emit("endpoint.status", name=endpoint.name, status="Deleting")
        self._spawn(self._run_endpoint_deletion, endpoint)
        return {}

    def _run_endpoint_deletion(self, endpoint: _Endpoint) -> None:
        self._sleep(ENDPOINT_DELETING_SECONDS)
        with self._lock:
            if self.registry is not None:
                self.registry.unregister(endpoint.name)
            if self._endpoints.get(endpoint.name) is endpoint:
                del self._endpoints[endpoint.name]
            self._tags.pop(endpoint.arn, None)
        self._emit("endpoint.status", name=endpoint.name, status="Deleted")

    def _op_list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            items = [
                {
                    "EndpointName": e.name,
                    "EndpointArn": e.arn,
                    "CreationTime": e.created,
                    "LastModifiedTime": e.modified,
                    "EndpointStatus": e.status,
                }
                for e in self._endpoints.values()
            ]
        page, token = _list(items, request, "EndpointName", "EndpointStatus")
        return {"Endpoints": page, **token}

    # -------------------------------------------------------------------------------------------- tags

    def _tagged(self, arn: str) -> list[dict[str, str]]:
        tags = self._tags.get(arn)
        if tags is None:
            raise _validation(f"Resource {arn} does not exist or is not taggable by the local SageMaker.")
        return tags

    def _op_add_tags(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = self._tagged(request["ResourceArn"])
            merged = {t["Key"]: t["Value"] for t in tags}
            merged.update({t["Key"]: t.get("Value", "") for t in request["Tags"]})
            if len(merged) > 50:
                raise _validation("A resource can have at most 50 tags")
            tags[:] = [{"Key": k, "Value": v} for k, v in merged.items()]
            return {"Tags": [dict(t) for t in request["Tags"]]}

    def _op_list_tags(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = [dict(t) for t in self._tagged(request["ResourceArn"])]
        start = _token(request)
        size = request.get("MaxResults", 50)
        response: dict[str, Any] = {"Tags": tags[start : start + size]}
        if start + size < len(tags):
            response["NextToken"] = str(start + size)
        return response

    def _op_delete_tags(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tags = self._tagged(request["ResourceArn"])
            tags[:] = [t for t in tags if t["Key"] not in set(request["TagKeys"])]
        return {}


def _handler_name(operation: str) -> str:
    """``CreateTrainingJob`` → ``_op_create_training_job``."""
    return "_op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _token(request: Mapping[str, Any]) -> int:
    token = request.get("NextToken")
    if token is None:
        return 0
    if not token.isdigit():
        raise _validation(f"Invalid pagination token {token!r}")
    return int(token)


def _timestamp(value: Any) -> datetime:
    return parse_to_aware_datetime(value)


def _list(
    items: list[dict[str, Any]], request: Mapping[str, Any], name_key: str, status_key: str | None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Filter, sort and page a List* answer as SageMaker does (default 10 per page, newest first)."""
    if "NameContains" in request:
        needle = request["NameContains"].lower()
        items = [i for i in items if needle in i[name_key].lower()]
    if status_key and "StatusEquals" in request:
        items = [i for i in items if i[status_key] == request["StatusEquals"]]
    for member, item_key, keep_after in (
        ("CreationTimeAfter", "CreationTime", True),
        ("CreationTimeBefore", "CreationTime", False),
        ("LastModifiedTimeAfter", "LastModifiedTime", True),
        ("LastModifiedTimeBefore", "LastModifiedTime", False),
    ):
        if member in request:
            bound = _timestamp(request[member])
            items = [i for i in items if (i[item_key] > bound) == keep_after and i[item_key] != bound]
    sort_by = request.get("SortBy", "CreationTime")
    sort_key = {"Name": name_key, "CreationTime": "CreationTime", "Status": status_key or name_key}[sort_by]
    items.sort(key=lambda i: (i[sort_key], i[name_key]), reverse=request.get("SortOrder", "Descending") == "Descending")
    start = _token(request)
    size = request.get("MaxResults", DEFAULT_MAX_RESULTS)
    page = items[start : start + size]
    return page, ({"NextToken": str(start + size)} if start + size < len(items) else {})
