"""Execution input -> run config (docs/ARCHITECTURE.md "Execution config").

Everything that can make a run fail for a reason the user controls is checked here, in the first state,
before anything costs money. Errors name the offending field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

# The published GDELT 1.0 yearly backfiles are events/1979.csv ... events/2005.csv.
from lambda_common.gdelt_sources import FIRST_YEAR as FIRST_YEARLY_FILE
from lambda_common.gdelt_sources import LAST_YEARLY_FILE, group_count, latest_complete_year, layout  # noqa: F401

# FIRST_YEARLY_FILE to latest_complete_year(start): yearly files to 2005, monthly to March 2013, then daily.
# Source groups ("Shard years" Map items: 1 per yearly year, 12 per later year) one run may prepare: with it
# the definition's worst-case history stays under half of Step Functions' 25,000 events (test_stack_history).
MAX_SHARD_ITEMS = 200

# Must equal cdk.json context "shardlab:executionDefaults" (a test checks it); the stack passes the context
# values in SHARDLAB_DEFAULTS so a deployment can change them without touching code.
DEFAULTS: dict[str, Any] = {
    "trainYears": [1979, 1980, 1981, 1982, 1983],
    "testYear": 1984,
    "topEventCodes": 20,
    "instanceCount": 5,
    "trainingInstanceType": "ml.c5.2xlarge",
    "hostingInstanceType": "ml.m5.xlarge",
    "hyperParameters": {},
    "useSpotInstances": False,
    "keepEndpoints": False,
    "endpointPollSeconds": 30,
    "sourceBucket": "gdelt-open-data",
    "sourcePrefix": "events/",
    "seed": 1729,
    "trainFraction": 0.9,
    "maxBadRowFraction": 0.01,
    "maxRuntimeInSeconds": 3600,
    "maxWaitTimeInSeconds": 7200,
}

# Linear Learner settings of the workshop; user overrides are merged over them.
BASE_HYPERPARAMETERS = {
    "mini_batch_size": "500",
    "predictor_type": "regressor",
    "epochs": "2",
    "num_models": "32",
    "loss": "absolute_loss",
}

# Creating an endpoint takes minutes; SageMaker gives up on one after about an hour.
ENDPOINT_WAIT_SECONDS = 3600
# The wait loop's schedule (config.endpointPollSchedule): a few quick polls at endpointPollSeconds, then the
# wait doubles up to max(endpointPollSeconds, 30 s). A 1 s poll for a whole hour would be 3,600 loop
# iterations, past Step Functions' 25,000-event history limit (a failure no Catch sees); this keeps every
# valid input near 130 polls (tests/test_stack_history.py bounds the whole definition's events).
ENDPOINT_QUICK_POLLS = 10
ENDPOINT_STEADY_POLL_SECONDS = 30
MAX_NAME_LENGTH = 63
RUN_NAME_PART_LENGTH = 24
BRANCH_SUFFIXES = ("replicated", "sharded")
LONGEST_SUFFIX = max(len(s) for s in BRANCH_SUFFIXES)
# <prefix>-<run part (<=24)>-<8 hex>-<suffix> must fit 63 characters.
MAX_PREFIX_LENGTH = MAX_NAME_LENGTH - (1 + RUN_NAME_PART_LENGTH + 1 + 8 + 1 + LONGEST_SUFFIX)

_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
_HYPERPARAMETER_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,255}$")


class InvalidExecutionInputError(ValueError):
    """The execution input cannot start a run; the message names the field."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_in(field: str, value: object, low: int, high: int) -> int:
    if not _is_int(value):
        raise InvalidExecutionInputError(f"{field} must be an integer, got {json.dumps(value)}")
    assert isinstance(value, int)
    if not low <= value <= high:
        raise InvalidExecutionInputError(f"{field} must be between {low} and {high}, got {value}")
    return value


def _bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidExecutionInputError(f"{field} must be true or false, got {json.dumps(value)}")
    return value


def _year(field: str, value: object, latest: int) -> int:
    if not _is_int(value):
        raise InvalidExecutionInputError(f"{field} must be a year (integer), got {json.dumps(value)}")
    assert isinstance(value, int)
    if not FIRST_YEARLY_FILE <= value <= latest:
        raise InvalidExecutionInputError(
            f"{field}: {value} is not a complete GDELT year; GDELT 1.0 events cover "
            f"{FIRST_YEARLY_FILE}-{latest} (the latest complete year)"
        )
    return value


def _fraction(field: str, value: object, *, low_inclusive: bool) -> float:
    if not _is_number(value):
        raise InvalidExecutionInputError(f"{field} must be a number, got {json.dumps(value)}")
    assert isinstance(value, int | float)
    low_ok = value >= 0 if low_inclusive else value > 0
    if not (low_ok and value < 1):
        bounds = "0 <= x < 1" if low_inclusive else "0 < x < 1"
        raise InvalidExecutionInputError(f"{field} must satisfy {bounds}, got {value}")
    return float(value)


def _instance_type(field: str, value: object) -> str:
    if not isinstance(value, str) or not _INSTANCE_TYPE.match(value):
        raise InvalidExecutionInputError(
            f"{field} must be a SageMaker instance type like 'ml.c5.2xlarge', got {json.dumps(value)}"
        )
    return value


def _hyperparameters(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidExecutionInputError(f"hyperParameters must be an object of strings, got {json.dumps(value)}")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _HYPERPARAMETER_KEY.match(key):
            raise InvalidExecutionInputError(f"hyperParameters: {json.dumps(key)} is not a hyperparameter name")
        if key == "feature_dim":
            raise InvalidExecutionInputError(
                "hyperParameters.feature_dim is set by the pipeline from the data (5 + topEventCodes)"
            )
        if not isinstance(item, str) or not 0 < len(item) <= 2500:
            raise InvalidExecutionInputError(
                f"hyperParameters.{key} must be a non-empty string (SageMaker passes strings), "
                f"got {json.dumps(item)}"
            )
        result[key] = item
    return result


def validate_execution_input(raw: object, defaults: dict[str, Any] | None = None,
                             source_locations: list[str] | None = None, *, latest_year: int | None = None
                             ) -> dict[str, Any]:
    """Merge `raw` over the defaults and check every field; returns the validated settings.

    `source_locations`: the `s3://bucket/prefix/` locations the deployment's roles may read
    (cdk.json `shardlab:sourceLocations`); a source outside all of them is refused here."""
    base = dict(DEFAULTS if defaults is None else defaults)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidExecutionInputError(f"execution input must be a JSON object, got {json.dumps(raw)}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise InvalidExecutionInputError(
            f"unknown execution input key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(DEFAULTS))}"
        )
    merged = {**base, **raw}
    if latest_year is None:
        latest_year = latest_complete_year()

    years_value = merged["trainYears"]
    if not isinstance(years_value, list) or not years_value:
        raise InvalidExecutionInputError(f"trainYears must be a non-empty list of years, got {json.dumps(years_value)}")
    train_years = [_year(f"trainYears[{i}]", y, latest_year) for i, y in enumerate(years_value)]
    if len(set(train_years)) != len(train_years):
        raise InvalidExecutionInputError(f"trainYears must not repeat a year, got {train_years}")
    test_year = _year("testYear", merged["testYear"], latest_year)
    if test_year in train_years:
        raise InvalidExecutionInputError(f"testYear {test_year} is also in trainYears; the test year must be held out")
    groups = sum(group_count(year) for year in [*train_years, test_year])
    if groups > MAX_SHARD_ITEMS:
        raise InvalidExecutionInputError(
            f"trainYears and testYear are {groups} source groups (1 per year to 2005, 12 per later year: one per "
            f"month); one run prepares at most {MAX_SHARD_ITEMS} (e.g. 16 years from 2006 on and 8 before)"
        )

    config: dict[str, Any] = {
        "trainYears": sorted(train_years),
        "testYear": test_year,
        "topEventCodes": _int_in("topEventCodes", merged["topEventCodes"], 1, 300),
        "instanceCount": _int_in("instanceCount", merged["instanceCount"], 1, 100),
        "trainingInstanceType": _instance_type("trainingInstanceType", merged["trainingInstanceType"]),
        "hostingInstanceType": _instance_type("hostingInstanceType", merged["hostingInstanceType"]),
        "hyperParameters": _hyperparameters(merged["hyperParameters"]),
        "useSpotInstances": _bool("useSpotInstances", merged["useSpotInstances"]),
        "keepEndpoints": _bool("keepEndpoints", merged["keepEndpoints"]),
        "endpointPollSeconds": _int_in("endpointPollSeconds", merged["endpointPollSeconds"], 1, 300),
        "seed": _int_in("seed", merged["seed"], 0, 2**32 - 1),
        "trainFraction": _fraction("trainFraction", merged["trainFraction"], low_inclusive=False),
        "maxBadRowFraction": _fraction("maxBadRowFraction", merged["maxBadRowFraction"], low_inclusive=True),
        "maxRuntimeInSeconds": _int_in("maxRuntimeInSeconds", merged["maxRuntimeInSeconds"], 60, 432000),
        "maxWaitTimeInSeconds": _int_in("maxWaitTimeInSeconds", merged["maxWaitTimeInSeconds"], 60, 432000),
    }
    source_bucket = merged["sourceBucket"]
    if not isinstance(source_bucket, str) or not _BUCKET_NAME.match(source_bucket):
        raise InvalidExecutionInputError(f"sourceBucket must be an S3 bucket name, got {json.dumps(source_bucket)}")
    source_prefix = merged["sourcePrefix"]
    if not isinstance(source_prefix, str) or (source_prefix and not source_prefix.endswith("/")):
        raise InvalidExecutionInputError(
            f"sourcePrefix must be a key prefix ending in '/' (or empty), got {json.dumps(source_prefix)}"
        )
    config["sourceBucket"] = source_bucket
    config["sourcePrefix"] = source_prefix
    check_source_readable(source_bucket, source_prefix, source_locations or DEFAULT_SOURCE_LOCATIONS)
    if config["useSpotInstances"] and config["maxWaitTimeInSeconds"] < config["maxRuntimeInSeconds"]:
        raise InvalidExecutionInputError(
            "maxWaitTimeInSeconds must be at least maxRuntimeInSeconds when useSpotInstances is true"
        )
    return config


def run_id_for(execution_name: str, start_time: str = "") -> str:
    """`<sanitized name, <=24 chars>-<8 hex>`: readable, and distinct per execution.

    The hash covers the start time too: SageMaker never frees a training job name, while an execution name
    can come back (after 90 days, or on a redeployed stack). A redrive keeps the start time, so its names
    stay those of the original run.
    """
    if not isinstance(execution_name, str) or not execution_name:
        raise InvalidExecutionInputError("executionName must be the execution's name ($$.Execution.Name)")
    readable = re.sub(r"[^a-z0-9]+", "-", execution_name.lower()).strip("-")
    readable = readable[:RUN_NAME_PART_LENGTH].rstrip("-") or "run"
    digest = hashlib.sha256(f"{execution_name}\n{start_time}".encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def dataset_prefix_for(config: dict[str, Any]) -> str:
    """Runs with the same data parameters share one prepared dataset.

    The shard plan is one of them: the train channel has instanceCount parts per source group.
    """
    data_parameters = {
        "instanceCount": config["instanceCount"],
        "trainYears": config["trainYears"],
        "testYear": config["testYear"],
        "topEventCodes": config["topEventCodes"],
        "seed": config["seed"],
        "trainFraction": config["trainFraction"],
        "maxBadRowFraction": config["maxBadRowFraction"],
        "source": f"s3://{config['sourceBucket']}/{config['sourcePrefix']}",
    }
    canonical = json.dumps(data_parameters, sort_keys=True, separators=(",", ":"))
    return f"datasets/{hashlib.sha256(canonical.encode()).hexdigest()[:16]}/"


def endpoint_poll_schedule(first_wait: int, budget: int | None = None) -> list[int]:
    """Seconds to wait before each DescribeEndpoint poll, adding up to at least `budget` (about an hour)."""
    budget = ENDPOINT_WAIT_SECONDS if budget is None else budget
    steady = max(first_wait, ENDPOINT_STEADY_POLL_SECONDS)
    waits: list[int] = []
    wait = first_wait
    while sum(waits) < budget:
        waits.append(wait)
        if len(waits) >= ENDPOINT_QUICK_POLLS:
            wait = min(wait * 2, steady)
    return waits


def check_resource_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise ValueError(
            f"resource prefix {prefix!r} must be lowercase letters, digits and '-', start with a letter "
            f"and be at most {MAX_PREFIX_LENGTH} characters (SageMaker names are limited to 63)"
        )
    return prefix


def build_config(
    raw_input: object,
    *,
    execution_name: str,
    start_time: str = "",
    bucket: str,
    resource_prefix: str,
    defaults: dict[str, Any] | None = None,
    source_locations: list[str] | None = None,
) -> dict[str, Any]:
    """The full run config stored at `$.config` (docs/ARCHITECTURE.md)."""
    config = validate_execution_input(
        raw_input, defaults, source_locations, latest_year=latest_complete_year(start_time)
    )
    prefix = check_resource_prefix(resource_prefix)
    run_id = run_id_for(execution_name, start_time)
    names = {suffix: f"{prefix}-{run_id}-{suffix}" for suffix in BRANCH_SUFFIXES}
    stopping_condition = {"MaxRuntimeInSeconds": config["maxRuntimeInSeconds"]}
    if config["useSpotInstances"]:
        # SageMaker accepts MaxWaitTimeInSeconds only together with managed spot training.
        stopping_condition["MaxWaitTimeInSeconds"] = config["maxWaitTimeInSeconds"]
    schedule = endpoint_poll_schedule(config["endpointPollSeconds"])
    config.update(
        {
            "runId": run_id,
            "bucket": bucket,
            "datasetPrefix": dataset_prefix_for(config),
            "runPrefix": f"runs/{run_id}/",
            "names": names,
            # One Map item per source group (a year's file, or one month of monthly/daily files): at most
            # 12 per year, so the Map's item count stays bounded (the history-bound test uses this).
            "shardYears": [
                {"year": year, "role": role, "group": group, "layout": layout(year)}
                for year, role in [*((y, "train") for y in config["trainYears"]), (config["testYear"], "test")]
                for group in range(group_count(year))
            ],
            "hyperParameters": {**BASE_HYPERPARAMETERS, **config["hyperParameters"]},
            "stoppingCondition": stopping_condition,
            "endpointPollSchedule": schedule,
            # The loop polls maxEndpointPolls + 1 times (the counter starts at 0), one per schedule entry.
            "maxEndpointPolls": len(schedule) - 1,
            "tags": [
                {"Key": "shardlab:stack", "Value": prefix},
                {"Key": "shardlab:run", "Value": run_id},
            ],
        }
    )
    return config


# --- readable source locations (cdk.json "shardlab:sourceLocations") ---------------------------------------

# Must equal cdk.json context "shardlab:sourceLocations" by default (a test checks it): the stack grants its
# roles read access to exactly these, and passes them to this function in SHARDLAB_SOURCE_LOCATIONS.
DEFAULT_SOURCE_LOCATIONS = ["s3://gdelt-open-data/events/"]
SOURCE_LOCATIONS_CONTEXT = "shardlab:sourceLocations"


def parse_source_location(location: object) -> tuple[str, str]:
    """`s3://bucket/prefix/` (or `s3://bucket/`) -> (bucket, prefix)."""
    if not isinstance(location, str) or not location.startswith("s3://"):
        raise ValueError(f"source location {json.dumps(location)} must look like s3://bucket/prefix/")
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not _BUCKET_NAME.match(bucket) or (prefix and not prefix.endswith("/")) or "*" in prefix:
        raise ValueError(
            f"source location {json.dumps(location)} must be s3://<bucket name>/<key prefix ending in '/'> "
            "(or s3://<bucket name>/ for the whole bucket)"
        )
    return bucket, prefix


def source_location_covers(location: str, bucket: str, prefix: str) -> bool:
    location_bucket, location_prefix = parse_source_location(location)
    return bucket == location_bucket and prefix.startswith(location_prefix)


def check_source_readable(bucket: str, prefix: str, locations: list[str]) -> None:
    if any(source_location_covers(location, bucket, prefix) for location in locations):
        return
    wanted = f"s3://{bucket}/{prefix}"
    all_locations = json.dumps([*locations, wanted])
    raise InvalidExecutionInputError(
        f"sourceBucket/sourcePrefix {wanted} is outside the locations this deployment may read "
        f"({', '.join(locations)}), so reading it would fail with AccessDenied. To use it, add it to the cdk.json "
        f"context \"{SOURCE_LOCATIONS_CONTEXT}\" and deploy again, e.g. "
        f"cdk deploy -c '{SOURCE_LOCATIONS_CONTEXT}={all_locations}'"
    )
