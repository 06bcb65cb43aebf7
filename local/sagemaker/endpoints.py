"""Models, endpoint configs and endpoints, and an endpoint's lifecycle (``Endpoint.run_creation``).

An endpoint is ``Creating`` (``ENDPOINT_CREATING_SECONDS`` simulated) → loads the first variant's model artifact
from S3, registers it in the hosting registry → ``InService``; if the artifact cannot be read or is not a local
model, ``Failed`` with a FailureReason. ``DeleteEndpoint`` → ``Deleting`` (``ENDPOINT_DELETING_SECONDS``) →
unregistered and gone. When its instances come up it writes ``/aws/sagemaker/Endpoints/<name>`` with a stream per
instance (``local.sagemaker.logs``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from lambdas.lambda_common.vocabulary import parse_s3_uri
from local.linear_model import LinearModel, ModelArtifactError
from local.sagemaker.faults import FaultPlan
from local.sagemaker.logs import SageMakerLogs
from local.sagemaker.validation import validation_error

ENDPOINT_CREATING_SECONDS = 240.0
ENDPOINT_DELETING_SECONDS = 10.0
MODEL_OPTIONAL_MEMBERS = ("PrimaryContainer", "Containers", "ExecutionRoleArn", "VpcConfig", "InferenceExecutionConfig")
CONFIG_OPTIONAL_MEMBERS = ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig")


class ModelRegistry(Protocol):
    """What the control plane needs from the hosting side (``local.hosting.EndpointRegistry``)."""

    def register(self, name: str, model: LinearModel) -> None: ...

    def unregister(self, name: str) -> None: ...


class HostingEnvironment(Protocol):
    """What an endpoint's lifecycle uses of the control plane; its lock guards every endpoint's state."""

    registry: ModelRegistry | None
    faults: FaultPlan
    sagemaker_logs: SageMakerLogs
    clock: Callable[[], datetime]
    lock: threading.RLock
    closing: threading.Event

    @property
    def s3(self) -> Any: ...

    def emit(self, kind: str, **payload: Any) -> None: ...

    def sleep(self, simulated_seconds: float, interrupt: threading.Event | None = None) -> None: ...


_R = TypeVar("_R", "Model", "EndpointConfig", "Endpoint")


class HostingResources(Generic[_R]):
    """One kind of hosting resource by name, refused as SageMaker words a duplicate or a missing one.

    Not locked: the control plane's lock guards it."""

    def __init__(self, words: str, arn: Callable[[str], str]) -> None:
        self.words = words  # "model", "endpoint configuration", "endpoint"
        self._arn = arn
        self._by_name: dict[str, _R] = {}

    def check_absent(self, name: str) -> None:
        if name in self._by_name:
            raise validation_error(f'Cannot create already existing {self.words} "{self._arn(name)}".')

    def add(self, name: str, resource: _R) -> None:
        self.check_absent(name)
        self._by_name[name] = resource

    def find(self, name: str) -> _R | None:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> _R:
        resource = self._by_name.get(name)
        if resource is None:
            raise validation_error(f'Could not find {self.words} "{self._arn(name)}".')
        return resource

    def remove(self, name: str, resource: _R) -> None:
        """Forget ``resource`` (not a newer one of the same name)."""
        if self._by_name.get(name) is resource:
            del self._by_name[name]

    def values(self) -> list[_R]:
        return list(self._by_name.values())


def _given(request: Mapping[str, Any], members: tuple[str, ...]) -> dict[str, Any]:
    """The optional members the create request gave, as Describe* echoes them."""
    return {member: request[member] for member in members if member in request}


@dataclass
class Model:
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime

    @property
    def container(self) -> Mapping[str, Any]:
        """The container that serves: the primary one, or the first of ``Containers``."""
        return self.request.get("PrimaryContainer") or self.request["Containers"][0]

    def describe(self) -> dict[str, Any]:
        return {
            "ModelName": self.name,
            "ModelArn": self.arn,
            "CreationTime": self.created,
            "EnableNetworkIsolation": bool(self.request.get("EnableNetworkIsolation", False)),
            **_given(self.request, MODEL_OPTIONAL_MEMBERS),
        }

    def summary(self) -> dict[str, Any]:
        return {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.created}


@dataclass
class EndpointConfig:
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime

    @property
    def variants(self) -> list[dict[str, Any]]:
        return self.request["ProductionVariants"]

    def instances(self) -> dict[str, int]:
        """Instance type → how many instances an endpoint of this config holds (quotas count them)."""
        held: dict[str, int] = {}
        for variant in self.variants:
            if "InstanceType" in variant:  # serverless variants hold no instances
                held[variant["InstanceType"]] = held.get(variant["InstanceType"], 0) + _instance_count(variant)
        return held

    def describe(self) -> dict[str, Any]:
        return {
            "EndpointConfigName": self.name,
            "EndpointConfigArn": self.arn,
            "ProductionVariants": [{"InitialVariantWeight": 1.0, **v} for v in self.variants],
            "CreationTime": self.created,
            **_given(self.request, CONFIG_OPTIONAL_MEMBERS),
        }

    def summary(self) -> dict[str, Any]:
        return {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn, "CreationTime": self.created}


@dataclass
class Endpoint:
    name: str
    arn: str
    config_name: str
    created: datetime
    modified: datetime
    status: str = "Creating"
    failure_reason: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)  # as deployed (DescribeEndpoint)
    instances: dict[str, int] = field(default_factory=dict)  # instance type -> count it holds (quotas)

    def describe(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "EndpointStatus": self.status,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
        }
        if self.variants:
            response["ProductionVariants"] = [dict(v) for v in self.variants]
        if self.failure_reason:
            response["FailureReason"] = self.failure_reason
        return response

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "EndpointStatus": self.status,
        }

    def run_creation(
        self, env: HostingEnvironment, variants: list[dict[str, Any]], models: Mapping[str, Model | None]
    ) -> None:
        """The endpoint's thread: ``Creating`` → ``InService`` (its model registered) or ``Failed``."""
        delay = env.faults.endpoint_delay(self.name)
        if delay > 0:  # injected: an endpoint slow to come up (real seconds)
            env.closing.wait(delay)
        env.sleep(ENDPOINT_CREATING_SECONDS)
        failure = env.faults.endpoint_failure(self.name)
        served: LinearModel | None = None
        deployed: list[dict[str, Any]] = []
        if failure is None:
            try:
                for variant in variants:
                    model = models.get(variant["ModelName"])
                    if model is None:
                        raise ModelArtifactError(f"model {variant['ModelName']} was deleted before deployment")
                    loaded = load_model(env.s3, model.container, variant["VariantName"])
                    served = served or loaded  # the first variant answers invocations
                    deployed.append(deployed_variant(variant, model.container, env.clock()))
            except ModelArtifactError as error:
                failure = str(error)
        with env.lock:
            if self.status != "Creating":
                return  # deleted while creating
            # The instances ran the container (also when the model then failed to load): they logged.
            env.sagemaker_logs.endpoint_started(
                self.name, [(v["VariantName"], _instance_count(v)) for v in variants], env.clock()
            )
            if failure is None and served is not None and env.registry is not None:
                env.registry.register(self.name, served)
            self.status = "Failed" if failure else "InService"
            self.failure_reason = failure
            self.variants = deployed if not failure else []
            self.modified = env.clock()
        env.emit("endpoint.status", name=self.name, status=self.status, reason=failure)


def _instance_count(variant: Mapping[str, Any]) -> int:
    return int(variant.get("InitialInstanceCount", 1))


def load_model(s3: Any, container: Mapping[str, Any], variant_name: str) -> LinearModel:
    """The container's model artifact, read from S3 as a linear-learner model; failures worded as SageMaker's."""
    url = container.get("ModelDataUrl")
    if not url:
        raise ModelArtifactError(
            f"The primary container for production variant {variant_name} has no ModelDataUrl; "
            "local mode serves only linear-learner model artifacts"
        )
    try:
        bucket, key = parse_s3_uri(url)
    except ValueError:  # an https:// URL: nothing local mode can download, worded below as SageMaker does
        bucket, key = "", ""
    try:
        blob = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
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


def deployed_variant(variant: Mapping[str, Any], container: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """A production variant as DescribeEndpoint shows it once deployed."""
    image = container.get("Image", "")
    count = _instance_count(variant)
    weight = float(variant.get("InitialVariantWeight", 1.0))
    return {
        "VariantName": variant["VariantName"],
        "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": at}],
        "CurrentWeight": weight,
        "DesiredWeight": weight,
        "CurrentInstanceCount": count,
        "DesiredInstanceCount": count,
    }
