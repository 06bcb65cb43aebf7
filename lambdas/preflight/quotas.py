"""Service Quotas pre-flight: does the account's SageMaker quota allow this run's instances at all?

A run starts 2 training jobs of `instanceCount` instances at once (one per branch), then 2 endpoints
of one instance each. New accounts often have lower quotas (some 0); SageMaker would refuse the first Create*
only after data preparation. This check runs right after input validation, before anything costs money.

Quotas are matched by name (their codes differ between quotas and are not documented per instance type):
`<type> for training job usage` (`... for spot training job usage` with managed spot training),
`Number of instances across all (spot) training jobs`, `<type> for endpoint usage`,
`Number of instances across active endpoints`, or with `scoring` `transform` `<type> for transform job usage`
instead of the endpoint quotas. The applied value comes from `ListServiceQuotas`; a quota that
has no applied value there is read from `ListAWSDefaultServiceQuotas`. Such a value is only AWS's published
default: a new account's actual quota can be lower (amazon-sagemaker-examples#593), so it is reported under
"assumedDefault", not "checked" (a default below the need still fails the run: no account gets more unasked).

With a `sweep` (the run config's expanded grid) the need checked is the largest point's (its 2 training jobs at
once, then its 2 transform jobs), and the report's `sweep` says how many points can run at once: the largest c
such that the c largest points' needs together fit every quota value read (applied or assumed default), at most
the number of points. The state machine's Map over the points runs at most that many (`MaxConcurrencyPath`).

What is checked is the quota's value against this run's need. Instances other workloads use at the same time
are not counted (Service Quotas does not report usage); SageMaker itself still refuses a request over the
limit (ResourceLimitExceeded), which the run's Catch cleans up after.

When a quota cannot be read (not listed in this region, or Service Quotas denies, throttles after retries or
fails), it is reported under "unchecked" and the run goes on: a missing permission or a renamed quota must not
stop runs that SageMaker would accept. Only a quota that is read and is too low fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.lambda_common.aws_errors import client_error_text, error_text
from lambdas.lambda_common.contracts import QuotaCheckEvent
from lambdas.lambda_common.vocabulary import BRANCHES
from lambdas.workflow_input.schema import SCORING_TRANSFORM

SERVICE_CODE = "sagemaker"
TRAINING_JOBS = len(BRANCHES)  # both branches train at the same time
ENDPOINTS = len(BRANCHES)  # then each serves its model
INSTANCES_PER_ENDPOINT = 1  # stacks/hosting.py: InitialInstanceCount
TRANSFORM_JOBS = len(BRANCHES)  # with `scoring` `transform`: a batch transform job per model, at once
INSTANCES_PER_TRANSFORM = 1  # stacks/transform.py: TransformResources.InstanceCount
PAGE_SIZE = 100
ASSUMED_DEFAULT = "assumed default"
ASSUMED_NOTE = ("Service Quotas lists no applied value, so AWS's published default is assumed; a new account's "
                "quota can be lower (SageMaker then refuses the request with ResourceLimitExceeded): check it in "
                "the Service Quotas console")


class InsufficientQuotaError(Exception):
    """A SageMaker quota is below what this run needs; the message names each quota, the need and the value."""


@dataclass(frozen=True)
class Need:
    quota: str
    instances: int
    why: str


def point_counts(request: QuotaCheckEvent) -> list[int]:
    """Each sweep point's instanceCount, largest first (the run's own count without a sweep)."""
    if request.sweep is None:
        return [request.instance_count]
    return sorted((int(point["instanceCount"]) for point in request.sweep["points"]), reverse=True)


def needs(request: QuotaCheckEvent, count: int | None = None) -> list[Need]:
    """What one run (or a sweep's largest point, or the point of ``count`` instances) holds at once, per quota."""
    largest = count is None and request.sweep is not None
    count = point_counts(request)[0] if count is None else count
    training_type = request.training_instance_type
    hosting_type = request.hosting_instance_type
    spot = "spot " if request.use_spot_instances else ""
    training = TRAINING_JOBS * count
    of_point = " (the largest sweep point)" if largest else ""
    why_training = (f"{TRAINING_JOBS} training jobs at once x instanceCount {count}{of_point} {spot}{training_type} "
                    "instances")
    needs = [
        Need(f"{training_type} for {spot}training job usage", training, why_training),
        Need(f"Number of instances across all {spot}training jobs", training, why_training),
    ]
    if request.scoring == SCORING_TRANSFORM:  # no endpoint: the transform jobs' own quota
        transform = TRANSFORM_JOBS * INSTANCES_PER_TRANSFORM
        why_transform = f"{TRANSFORM_JOBS} transform jobs x {INSTANCES_PER_TRANSFORM} {hosting_type} instance"
        return [*needs, Need(f"{hosting_type} for transform job usage", transform, why_transform)]
    hosting = ENDPOINTS * INSTANCES_PER_ENDPOINT
    why_hosting = f"{ENDPOINTS} endpoints x {INSTANCES_PER_ENDPOINT} {hosting_type} instance"
    return [
        *needs,
        Need(f"{hosting_type} for endpoint usage", hosting, why_hosting),
        Need("Number of instances across active endpoints", hosting, why_hosting),
    ]


def _listed(client: Any, operation: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator(operation).paginate(ServiceCode=SERVICE_CODE,
                                                         PaginationConfig={"PageSize": PAGE_SIZE}):
        for quota in page.get("Quotas", []):
            if quota.get("QuotaName") in wanted and "Value" in quota:
                found[quota["QuotaName"]] = quota
        if len(found) == len(wanted):
            break
    return found


def _reason(error: Exception) -> str:
    return client_error_text(error).strip() if isinstance(error, ClientError) else error_text(error)


def check_quotas(client: Any, request: QuotaCheckEvent) -> dict[str, Any]:
    """Reads the quotas of `needs(request)`; raises InsufficientQuotaError if one is below its need."""
    wanted = needs(request)
    names = {need.quota for need in wanted}
    found: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for operation, source in (("list_service_quotas", "applied"), ("list_aws_default_service_quotas", "default")):
        missing = names - set(found)
        if not missing:
            break
        try:
            listed = _listed(client, operation, missing)
        except (ClientError, BotoCoreError) as error:
            problems.append(f"{operation}: {_reason(error)}")
            continue
        found.update(listed)
        sources.update(dict.fromkeys(listed, source))
    region = client.meta.region_name
    checked, assumed, unchecked, short = [], [], [], []
    for need in wanted:
        quota = found.get(need.quota)
        if quota is None:
            reason = "; ".join(problems) or f"Service Quotas lists no quota of this name for SageMaker in {region}"
            unchecked.append({"quota": need.quota, "need": need.instances, "reason": reason})
            continue
        value = float(quota["Value"])
        entry = {"quota": need.quota, "code": quota.get("QuotaCode", ""), "value": value,
                 "need": need.instances, "source": sources[need.quota]}
        if entry["source"] == "applied":
            checked.append(entry)
        else:
            assumed.append({**entry, "source": ASSUMED_DEFAULT, "note": ASSUMED_NOTE})
        if value < need.instances:
            short.append((need, entry))
    if short:
        raise InsufficientQuotaError(_message(short, region))
    values = {entry["quota"]: entry["value"] for entry in [*checked, *assumed]}
    return {"region": region, "checked": checked, "assumedDefault": assumed, "unchecked": unchecked,
            "sweep": sweep_concurrency(request, values)}


def sweep_concurrency(request: QuotaCheckEvent, values: dict[str, float]) -> dict[str, Any] | None:
    """How many sweep points run at once: the largest c whose c largest points fit every quota value read
    (`values`, by quota name; a quota not read limits nothing). None without a sweep."""
    if request.sweep is None:
        return None
    counts = point_counts(request)
    per_point = [needs(request, count) for count in counts]  # the same quotas in the same order for every point
    total = len(counts)
    for concurrency in range(1, total):
        for position, need in enumerate(per_point[0]):
            together = [point[position].instances for point in per_point[:concurrency + 1]]
            value = values.get(need.quota)
            if value is not None and sum(together) > value:
                return {"points": total, "concurrency": concurrency, "limitedBy": need.quota,
                        "note": (f"runs {concurrency} of {total} points at once: {need.quota} is {value:g}, the "
                                 f"{concurrency + 1} largest points need {sum(together)} at once "
                                 f"({' + '.join(map(str, together))})")}
    return {"points": total, "concurrency": total, "limitedBy": None,
            "note": f"runs all {total} points at once: every quota read holds them together"}


def _message(short: list[tuple[Need, dict[str, Any]]], region: str) -> str:
    parts = []
    for need, entry in short:
        code = entry["code"]
        parts.append(
            f"SageMaker quota '{need.quota}' ({code}) is {entry['value']:g} in {region}, but this run needs "
            f"{need.instances} ({need.why}). Request an increase in the Service Quotas console (AWS services > "
            f"Amazon SageMaker > '{need.quota}' > Request increase at account level) or with "
            f"`aws service-quotas request-service-quota-increase --service-code {SERVICE_CODE} --quota-code {code} "
            f"--desired-value {need.instances} --region {region}`"
        )
    return ("; ".join(parts) + ". Or start the run with a smaller instanceCount or other instance types. "
            "Nothing was started.")
