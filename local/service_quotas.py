"""Local Service Quotas for SageMaker: the pre-flight reads them, the local SageMaker enforces them.

moto 5.2.5 has a ``servicequotas`` backend, but only for ``vpc`` and without ``ListServiceQuotas``, so local
mode answers Service Quotas itself, on the same 127.0.0.1 server as the local SageMaker (JSON 1.1,
``X-Amz-Target: ServiceQuotasV20190624.<Operation>``; boto3 gets there through
``AWS_ENDPOINT_URL_SERVICE_QUOTAS``). Requests are validated against botocore's ``service-quotas`` model.

The catalogue has AWS's SageMaker quota names (matched by name; codes vary, so local codes are derived from
the name): ``<type> for training job usage`` and ``<type> for spot training job usage`` for every training
instance type of botocore's enum, ``<type> for endpoint usage`` for every hosting type, and the account-wide
``Number of instances across all training jobs`` / ``... all spot training jobs`` / ``... active endpoints``.
Values are configurable (``LocalServiceQuotas(values={name: value})``, or ``set(name, value)`` while running);
the defaults are well above what the execution defaults need (10 training instances, 2 endpoint instances) and
what the demo sweep needs (instanceCount 1, 2, 5 x epochs 2, 4: all 6 points at once hold 32 training instances of
one type and 12 transform instances); a test lowers one with ``set`` to make the pre-flight limit a sweep's
concurrency.

``exceeded(...)`` words a refusal as SageMaker does: ``ResourceLimitExceeded: The account-level service
limit '<name>' is <value> Instances, with current utilization of <used> Instances and a request delta of
<delta> Instances. Please use AWS Service Quotas to request an increase for this quota.``
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from local import fake_aws
from local.errors import SageMakerApiError

SERVICE_CODE = "sagemaker"
SERVICE_NAME = "Amazon SageMaker"
TARGET_PREFIX = "ServiceQuotasV20190624."
TRAINING_TOTAL = "Number of instances across all training jobs"
SPOT_TRAINING_TOTAL = "Number of instances across all spot training jobs"
ENDPOINT_TOTAL = "Number of instances across active endpoints"
DEFAULT_PER_TYPE = 40.0
DEFAULT_TOTAL = 80.0
PAGE_SIZE = 100  # ListServiceQuotas' MaxResults maximum
OPERATIONS = ("ListServiceQuotas", "ListAWSDefaultServiceQuotas", "GetServiceQuota")


def training_quota(instance_type: str, *, spot: bool = False) -> str:
    return f"{instance_type} for {'spot ' if spot else ''}training job usage"


def endpoint_quota(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


def transform_quota(instance_type: str) -> str:
    return f"{instance_type} for transform job usage"


def quota_code(name: str) -> str:
    return "L-" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()


def _catalogue() -> list[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    names = [TRAINING_TOTAL, SPOT_TRAINING_TOTAL, ENDPOINT_TOTAL]
    for instance_type in model.shape_for("TrainingInstanceType").enum:
        names += [training_quota(instance_type), training_quota(instance_type, spot=True)]
    names += [endpoint_quota(t) for t in model.shape_for("ProductionVariantInstanceType").enum]
    names += [transform_quota(t) for t in model.shape_for("TransformInstanceType").enum]
    return names


class LocalServiceQuotas:
    """SageMaker's instance quotas of one local account and region; thread-safe."""

    def __init__(self, values: Mapping[str, float] | None = None, *, region: str = fake_aws.REGION,
                 account_id: str = fake_aws.ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id
        self._names = _catalogue()
        known = set(self._names)
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"not SageMaker quota names of the local catalogue: {unknown}")
        self._lock = threading.Lock()
        self._values = {name: self.default(name) for name in self._names} | dict(values or {})
        self._model = botocore.session.get_session().get_service_model("service-quotas")
        self._validator = ParamValidator()

    @staticmethod
    def default(name: str) -> float:
        return DEFAULT_TOTAL if name.startswith("Number of instances") else DEFAULT_PER_TYPE

    def set(self, name: str, value: float) -> None:
        if name not in self._values:
            raise ValueError(f"{name!r} is not a SageMaker quota of the local catalogue")
        with self._lock:
            self._values[name] = float(value)

    def value(self, name: str) -> float:
        with self._lock:
            return self._values[name]

    # --- enforcement (the local SageMaker's CreateTrainingJob / CreateTransformJob / CreateEndpoint) ---------------

    def check(self, name: str, utilization: int, delta: int) -> None:
        """Raise SageMaker's ResourceLimitExceeded if ``delta`` more instances would pass quota ``name``."""
        limit = self.value(name)
        if utilization + delta > limit:
            raise SageMakerApiError(
                "ResourceLimitExceeded",
                f"The account-level service limit '{name}' is {limit:g} Instances, with current utilization of "
                f"{utilization} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas "
                "to request an increase for this quota.",
            )

    def check_training(self, instance_type: str, count: int, held: list[tuple[str, int]], *, spot: bool) -> None:
        """A new training job of ``count`` instances, while jobs of the same kind (spot or on-demand) hold
        ``held`` (instance type, count) pairs."""
        same_type = sum(n for kind, n in held if kind == instance_type)
        self.check(training_quota(instance_type, spot=spot), same_type, count)
        self.check(SPOT_TRAINING_TOTAL if spot else TRAINING_TOTAL, sum(n for _, n in held), count)

    def check_transform(self, instance_type: str, count: int, held: list[tuple[str, int]]) -> None:
        """A new transform job of ``count`` instances, while running transform jobs hold ``held`` (type, count)."""
        self.check(transform_quota(instance_type), sum(n for kind, n in held if kind == instance_type), count)

    def check_endpoint(self, wanted: Mapping[str, int], held: list[Mapping[str, int]]) -> None:
        """A new endpoint with ``wanted`` instances per type, while the account's endpoints hold ``held``."""
        for instance_type, count in wanted.items():
            self.check(endpoint_quota(instance_type), sum(h.get(instance_type, 0) for h in held), count)
        self.check(ENDPOINT_TOTAL, sum(sum(h.values()) for h in held), sum(wanted.values()))

    # --- the Service Quotas API ---------------------------------------------------------------------------

    def handle(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if operation not in OPERATIONS:
            raise SageMakerApiError("UnknownOperationException",
                                    f"The local Service Quotas does not implement {operation}")
        shape = self._model.operation_model(operation).input_shape
        report = self._validator.validate(dict(params), shape)
        if report.has_errors():
            raise SageMakerApiError("IllegalArgumentException", report.generate_report())
        if params["ServiceCode"] != SERVICE_CODE:
            raise SageMakerApiError("NoSuchResourceException",
                                    f"The local Service Quotas has no quotas for service {params['ServiceCode']}")
        if operation == "GetServiceQuota":
            by_code = {quota_code(name): name for name in self._names}
            if params["QuotaCode"] not in by_code:
                raise SageMakerApiError("NoSuchResourceException",
                                        f"The request failed because the specified quota {params['QuotaCode']} "
                                        "was not found.")
            return {"Quota": self._quota(by_code[params["QuotaCode"]], applied=True)}
        applied = operation == "ListServiceQuotas"
        token = str(params.get("NextToken") or "0")
        start = int(token) if token.isdigit() else -1
        if not 0 <= start <= len(self._names):
            raise SageMakerApiError("InvalidPaginationTokenException", "Invalid pagination token")
        size = int(params.get("MaxResults") or PAGE_SIZE)
        page = [self._quota(name, applied=applied) for name in self._names[start:start + size]]
        answer: dict[str, Any] = {"Quotas": page}
        if start + size < len(self._names):
            answer["NextToken"] = str(start + size)
        return answer

    def _quota(self, name: str, *, applied: bool) -> dict[str, Any]:
        code = quota_code(name)
        return {
            "ServiceCode": SERVICE_CODE,
            "ServiceName": SERVICE_NAME,
            "QuotaArn": fake_aws.arn("servicequotas", f"{SERVICE_CODE}/{code}", region=self.region,
                                     account_id=self.account_id),
            "QuotaCode": code,
            "QuotaName": name,
            "Value": self.value(name) if applied else self.default(name),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
            "QuotaAppliedAtLevel": "ACCOUNT",
        }
