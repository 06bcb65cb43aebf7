"""The local SageMaker's operations: training jobs, transform jobs, models, endpoint configs, endpoints and tags.

``LocalSageMaker.handle(operation, params)`` takes a JSON-protocol request (what boto3 sends to
``X-Amz-Target: SageMaker.<Operation>``, already JSON-decoded), validates it (``local.sagemaker.validation``)
and returns the response dict (datetimes as ``datetime`` objects; the HTTP server serializes them) or raises
``SageMakerApiError``.

Semantic errors use the codes and messages AWS answers with for these APIs (seen in public error reports): a
missing training job is ``ValidationException: Requested resource not found.``; a missing model / endpoint config
/ endpoint is ``ValidationException: Could not find model "<arn>".`` (resp. ``endpoint configuration``,
``endpoint``); a duplicate training job is ``ResourceInUse``; a duplicate model / config / endpoint is
``ValidationException: Cannot create already existing ... "<arn>".``; an empty training prefix is
``ValidationException: No S3 objects found under S3 URL ...``. Tag calls on an unknown ARN answer
``ValidationException`` (not verified against AWS).

Lifecycles run on daemon threads: a training job's in ``local.sagemaker.training_job``, a transform job's in
``local.sagemaker.transform_job``, an endpoint's in ``local.sagemaker.endpoints``. A missing transform job is
``ValidationException: Could not find requested job with name <name>``. Like SageMaker, training jobs and
endpoints write log groups/streams (``local.sagemaker.logs``) and never delete them: the run's clean-up does.

Quotas (``quotas=``, a ``local.service_quotas.LocalServiceQuotas`` or ``{quota name: value}``): AWS's instance
quotas by name; ``CreateTrainingJob``, ``CreateTransformJob`` and ``CreateEndpoint`` answer ``ResourceLimitExceeded``
as SageMaker does when the instances of running jobs (``InProgress``/``Stopping``; spot and on-demand training
counted apart; transform jobs against ``<type> for transform job usage``) or of
endpoints (any status but ``Failed``) plus the request would pass one. The same values are served as Service
Quotas (the pipeline's pre-flight reads them).

Injected failures (``faults=``): ``local.sagemaker.faults``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec

import boto3

from local import fake_aws
from local.errors import SageMakerApiError
from local.linear_learner import ClusterModel, TrainingResult
from local.pricing import LocalPriceList
from local.sagemaker.endpoints import (
    ENDPOINT_DELETING_SECONDS,
    Endpoint,
    EndpointConfig,
    HostingResources,
    Model,
    ModelRegistry,
)
from local.sagemaker.faults import FaultPlan
from local.sagemaker.listing import list_page, page
from local.sagemaker.logs import SageMakerLogs
from local.sagemaker.training_job import TrainingJob, check_input_objects, check_training_request
from local.sagemaker.transform_job import TransformJob, check_transform_request
from local.sagemaker.validation import RequestValidator, validation_error
from local.service_quotas import LocalServiceQuotas

DEFAULT_SPOT_SAVINGS = 0.7
MAX_TAGS = 50  # per resource
SUPPORTED_OPERATIONS = (
    "CreateTrainingJob",
    "DescribeTrainingJob",
    "StopTrainingJob",
    "ListTrainingJobs",
    "CreateTransformJob",
    "DescribeTransformJob",
    "StopTransformJob",
    "ListTransformJobs",
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
LOG = logging.getLogger(__name__)
_P = ParamSpec("_P")


def handler_name(operation: str) -> str:
    """``CreateTrainingJob`` → ``_op_create_training_job``."""
    return "_op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


class LocalSageMaker:
    """The control plane; thread-safe; training and endpoint lifecycles run on daemon threads.

    It is the environment its jobs and endpoints run in (``TrainingEnvironment``, ``HostingEnvironment``)."""

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
        price_list: LocalPriceList | None = None,
    ) -> None:
        self.registry = registry
        # Instance quotas, enforced on CreateTrainingJob/CreateEndpoint and served as Service Quotas.
        self.quotas = (quotas if isinstance(quotas, LocalServiceQuotas)
                       else LocalServiceQuotas(quotas, region=region, account_id=account_id))
        self.price_list = price_list or LocalPriceList()  # served beside it (local.pricing)
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
        self._cloudwatch_client: Any = None
        self.sagemaker_logs = SageMakerLogs(lambda: self.logs, lambda: self.cloudwatch)
        self._validator = RequestValidator()
        self.lock = threading.RLock()  # guards the resources below and every endpoint's state
        self.closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._jobs: dict[str, TrainingJob] = {}
        self._transforms: dict[str, TransformJob] = {}
        self._models = HostingResources[Model]("model", lambda name: self.arn("model", name))
        self._configs = HostingResources[EndpointConfig](
            "endpoint configuration", lambda name: self.arn("endpoint-config", name)
        )
        self._endpoints = HostingResources[Endpoint]("endpoint", lambda name: self.arn("endpoint", name))
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

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch_client is None:
            self._cloudwatch_client = boto3.client("cloudwatch", region_name=self.region)
        return self._cloudwatch_client

    def handle(self, operation: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Answer one API call: validate, then run ``_op_<operation in snake case>``."""
        if operation not in SUPPORTED_OPERATIONS:
            raise SageMakerApiError("UnknownOperationException", f"The local SageMaker does not implement {operation}")
        request = dict(params or {})
        self._validator.validate(operation, request)
        with self.lock:
            if self.faults.take_throttle(operation):
                raise SageMakerApiError("ThrottlingException", "Rate exceeded")
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, handler_name(operation))
        return handler(request)

    def arn(self, kind: str, name: str) -> str:
        # SageMaker lowercases names in ARNs.
        return fake_aws.arn("sagemaker", f"{kind}/{name.lower()}", region=self.region, account_id=self.account_id)

    def emit(self, kind: str, **payload: Any) -> None:
        """Tell the listener (the console, a test) what happened."""
        if self.listener is None:
            return
        try:
            self.listener(kind, payload)
        except Exception:  # a broken progress display must not fail the job
            LOG.exception("listener failed on %s %s", kind, payload)

    def sleep(self, simulated_seconds: float, interrupt: threading.Event | None = None) -> None:
        """Let ``simulated_seconds`` pass (scaled); ``close()`` or ``interrupt`` (a job's stop) cut it short."""
        if self.time_scale > 0 and simulated_seconds > 0:
            (interrupt or self.closing).wait(simulated_seconds * self.time_scale)

    def _spawn(self, target: Callable[_P, None], *args: _P.args, **kwargs: _P.kwargs) -> None:
        name = f"local-sagemaker-{getattr(target, '__name__', 'lifecycle')}"
        thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True, name=name)
        with self.lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every background job/endpoint thread has finished; True when they all did."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while True:
            with self.lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return True
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                return False
            alive[0].join(remaining)

    def close(self) -> None:
        """Stop every running training job and stop sleeping; threads end at their next check."""
        self.closing.set()
        with self.lock:
            for job in self._jobs.values():
                job.interrupt()
            for transform in self._transforms.values():
                transform.interrupt()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """``close`` and wait for the background threads; True when they all ended in time."""
        self.close()
        return self.wait_idle(timeout)

    def training_report(self, name: str) -> TrainingResult | None:
        """Local-only detail of a finished job (per-host objects and rows, simulated time breakdown)."""
        with self.lock:
            job = self._jobs.get(name)
        return job.result if job else None

    def _created(self, arn: str, request: Mapping[str, Any]) -> None:
        """A new resource is taggable, with the tags its create request gave."""
        self._tags[arn] = list(request.get("Tags", []))

    # -------------------------------------------------------------------------------------------- training

    def _op_create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        arn = self.arn("training-job", name)
        check_training_request(request)
        with self.lock:
            if name in self._jobs:
                raise SageMakerApiError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a training job with "
                    f"this name already exists ({arn})",
                )
        check_input_objects(self.s3, request, self.region)
        job = TrainingJob(name=name, arn=arn, request=request, created=self.clock(), environment=self)
        with self.lock:
            if name in self._jobs:  # lost a race with a concurrent create of the same name
                raise SageMakerApiError("ResourceInUse", f"Training job {name} already exists ({job.arn})")
            held = [(j.instance_type, j.hosts) for j in self._jobs.values() if j.holds_instances and j.spot == job.spot]
            self.quotas.check_training(job.instance_type, job.hosts, held, spot=job.spot)
            self._jobs[name] = job
            self._created(job.arn, request)
        self.emit("training.status", name=name, status=job.status, secondary=job.secondary)
        self._spawn(job.run)
        return {"TrainingJobArn": job.arn}

    def _job(self, name: str) -> TrainingJob:
        with self.lock:
            job = self._jobs.get(name)
        if job is None:
            raise validation_error("Requested resource not found.")
        return job

    def _op_describe_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._job(request["TrainingJobName"]).describe()

    def _op_stop_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self._job(request["TrainingJobName"]).request_stop()
        return {}

    def _op_list_training_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            jobs = list(self._jobs.values())
        items = [job.summary() for job in jobs]
        return list_page(items, request, "TrainingJobName", "TrainingJobStatus", member="TrainingJobSummaries")

    # -------------------------------------------------------------------------------------------- transform jobs

    def _op_create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["TransformJobName"]
        arn = self.arn("transform-job", name)
        check_transform_request(request)
        with self.lock:
            model = self._models[request["ModelName"]]  # refused unless the model exists, as AWS words it
            if name in self._transforms:
                raise SageMakerApiError(
                    "ResourceInUse", f"Job name must be unique within an AWS account and region, and a job with "
                    f"this name already exists ({arn})"
                )
            job = TransformJob(name=name, arn=arn, request=request, created=self.clock(), model=model,
                               environment=self)
            resources = request["TransformResources"]
            held = [(j.request["TransformResources"]["InstanceType"], j.request["TransformResources"]["InstanceCount"])
                    for j in self._transforms.values() if j.holds_instances]
            self.quotas.check_transform(resources["InstanceType"], resources["InstanceCount"], held)
            self._transforms[name] = job
            self._created(arn, request)
        self.emit("transform.status", name=name, status=job.status)
        self._spawn(job.run)
        return {"TransformJobArn": arn}

    def _transform(self, name: str) -> TransformJob:
        with self.lock:
            job = self._transforms.get(name)
        if job is None:
            raise validation_error(f"Could not find requested job with name {name}")
        return job

    def _op_describe_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._transform(request["TransformJobName"]).describe()

    def _op_stop_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self._transform(request["TransformJobName"]).request_stop()
        return {}

    def _op_list_transform_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            jobs = list(self._transforms.values())
        items = [job.summary() for job in jobs]
        return list_page(items, request, "TransformJobName", "TransformJobStatus", member="TransformJobSummaries")

    # -------------------------------------------------------------------------------------------- models

    def _op_create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["ModelName"]
        if "PrimaryContainer" not in request and not request.get("Containers"):
            raise validation_error("Either PrimaryContainer or Containers must be specified")
        if "PrimaryContainer" in request and request.get("Containers"):
            raise validation_error("Only one of PrimaryContainer or Containers can be specified")
        arn = self.arn("model", name)
        with self.lock:
            self._models.add(name, Model(name, arn, request, self.clock()))
            self._created(arn, request)
        return {"ModelArn": arn}

    def _op_describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._models[request["ModelName"]].describe()

    def _op_delete_model(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            model = self._models[request["ModelName"]]
            self._models.remove(model.name, model)
            self._tags.pop(model.arn, None)
        return {}

    def _op_list_models(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = [m.summary() for m in self._models.values()]
        return list_page(items, request, "ModelName", None, member="Models")

    # -------------------------------------------------------------------------------------------- endpoint configs

    def _op_create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointConfigName"]
        arn = self.arn("endpoint-config", name)
        variants = request["ProductionVariants"]
        variant_names = [v["VariantName"] for v in variants]
        if len(set(variant_names)) != len(variant_names):
            raise validation_error(
                f"Variant names must be unique within an endpoint configuration; got {variant_names}"
            )
        with self.lock:
            for variant in variants:
                if "ModelName" not in variant:
                    raise validation_error(f"Production variant {variant['VariantName']} needs a ModelName")
                self._models[variant["ModelName"]]  # refused unless the model exists
            self._configs.add(name, EndpointConfig(name, arn, request, self.clock()))
            self._created(arn, request)
        return {"EndpointConfigArn": arn}

    def _op_describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._configs[request["EndpointConfigName"]].describe()

    def _op_delete_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            config = self._configs[request["EndpointConfigName"]]
            self._configs.remove(config.name, config)
            self._tags.pop(config.arn, None)
        return {}

    def _op_list_endpoint_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = [c.summary() for c in self._configs.values()]
        return list_page(items, request, "EndpointConfigName", None, member="EndpointConfigs")

    # -------------------------------------------------------------------------------------------- endpoints

    def _op_create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["EndpointName"]
        arn = self.arn("endpoint", name)
        with self.lock:
            config = self._configs[request["EndpointConfigName"]]
            self._endpoints.check_absent(name)
            now = self.clock()
            endpoint = Endpoint(name, arn, config.name, now, now, instances=config.instances())
            held: list[Mapping[str, int]] = [e.instances for e in self._endpoints.values() if e.status != "Failed"]
            self.quotas.check_endpoint(endpoint.instances, held)
            self._endpoints.add(name, endpoint)
            self._created(arn, request)
            variants = [dict(v) for v in config.variants]
            models = {v["ModelName"]: self._models.find(v["ModelName"]) for v in variants}
        self.emit("endpoint.status", name=name, status="Creating")
        self._spawn(endpoint.run_creation, self, variants, models)
        return {"EndpointArn": arn}

    def _op_describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._endpoints[request["EndpointName"]].describe()

    def _op_delete_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            endpoint = self._endpoints[request["EndpointName"]]
            if endpoint.status == "Deleting":
                return {}
            endpoint.status = "Deleting"
            endpoint.modified = self.clock()
        self.emit("endpoint.status", name=endpoint.name, status="Deleting")
        self._spawn(self._run_endpoint_deletion, endpoint)
        return {}

    def _run_endpoint_deletion(self, endpoint: Endpoint) -> None:
        self.sleep(ENDPOINT_DELETING_SECONDS)
        with self.lock:
            if self.registry is not None:
                self.registry.unregister(endpoint.name)
            self._endpoints.remove(endpoint.name, endpoint)
            self._tags.pop(endpoint.arn, None)
        self.emit("endpoint.status", name=endpoint.name, status="Deleted")

    def _op_list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = [e.summary() for e in self._endpoints.values()]
        return list_page(items, request, "EndpointName", "EndpointStatus", member="Endpoints")

    # -------------------------------------------------------------------------------------------- tags

    def _tagged(self, arn: str) -> list[dict[str, str]]:
        tags = self._tags.get(arn)
        if tags is None:
            raise validation_error(f"Resource {arn} does not exist or is not taggable by the local SageMaker.")
        return tags

    def _op_add_tags(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tags = self._tagged(request["ResourceArn"])
            merged = {t["Key"]: t["Value"] for t in tags}
            merged.update({t["Key"]: t.get("Value", "") for t in request["Tags"]})
            if len(merged) > MAX_TAGS:
                raise validation_error(f"A resource can have at most {MAX_TAGS} tags")
            tags[:] = [{"Key": k, "Value": v} for k, v in merged.items()]
            return {"Tags": [dict(t) for t in request["Tags"]]}

    def _op_list_tags(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tags = [dict(t) for t in self._tagged(request["ResourceArn"])]
        shown, token = page(tags, request, MAX_TAGS)
        return {"Tags": shown, **token}

    def _op_delete_tags(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            tags = self._tagged(request["ResourceArn"])
            tags[:] = [t for t in tags if t["Key"] not in set(request["TagKeys"])]
        return {}
