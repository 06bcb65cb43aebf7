"""Execution input -> run config at `$.config` (docs/ARCHITECTURE.md "Execution config").

Everything that can make a run fail for a reason the user controls is checked in the first state, before
anything costs money (`schema.validate_execution_input`; errors name the offending field). This module derives
the rest of the config: names, prefixes, the shard items, the endpoint poll schedule and the tags.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from lambdas.lambda_common.gdelt_sources import group_count, latest_complete_year, layout
from lambdas.lambda_common.vocabulary import BRANCHES, RUN_TAG, STACK_TAG
from lambdas.workflow_input import sweep
from lambdas.workflow_input.schema import (
    BASE_HYPERPARAMETERS,
    ENDPOINT_QUICK_POLLS,
    ENDPOINT_STEADY_POLL_SECONDS,
    SCORING_TRANSFORM,
    data_parameters,
    validate_execution_input,
)
from lambdas.workflow_input.validators import InvalidExecutionInputError

# Creating an endpoint takes minutes; SageMaker gives up on one after about an hour: the wait loop's schedule
# (config.endpointPollSchedule; its quick polls and steady wait are in the schema) covers that long. A 1 s poll
# for a whole hour would be 3,600 loop iterations, past Step Functions' 25,000-event history limit (a failure
# no Catch sees); the schedule keeps every valid input near 130 polls (tests/test_stack_history.py bounds the
# whole definition's events).
ENDPOINT_WAIT_SECONDS = 3600

# A batch transform job has no stopping condition of its own: its .sync task times out after this long
# (config.transformTimeoutSeconds), which fails the run and stops the job. Scoring a year takes minutes.
TRANSFORM_TIMEOUT_SECONDS = 3600

MAX_NAME_LENGTH = 63
RUN_NAME_PART_LENGTH = 24
LONGEST_BRANCH = max(len(branch) for branch in BRANCHES)
# <prefix>-<run part (<=24)>-<8 hex>-<branch> must fit 63 characters.
MAX_PREFIX_LENGTH = MAX_NAME_LENGTH - (1 + RUN_NAME_PART_LENGTH + 1 + 8 + 1 + LONGEST_BRANCH)
# A sweep point's names add `-p24`: its run part is cut to 20 characters, so they fit the same 63.
POINT_ID_LENGTH = len(f"p{sweep.MAX_SWEEP_POINTS:02d}")
POINT_RUN_PART_LENGTH = RUN_NAME_PART_LENGTH - (1 + POINT_ID_LENGTH)

_PREFIX = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


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


def dataset_prefix_for(config: Mapping[str, Any]) -> str:
    """Runs with the same data parameters (the schema's rows marked so) share one prepared dataset.

    The shard plan is one of them: the train channel has instanceCount parts per source group.
    """
    parameters = {name: config[name] for name in data_parameters()}
    # The source enters as one URI: the cache key's bytes predate the schema, and prepared datasets stay valid.
    parameters["source"] = f"s3://{parameters.pop('sourceBucket')}/{parameters.pop('sourcePrefix')}"
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
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


def point_names(prefix: str, run_id: str, point: str) -> dict[str, str]:
    """`<prefix>-<run part, cut to 20>-<8 hex>-<point>-<branch>`: a sweep point's job, model and log names."""
    readable, digest = run_id[:-9], run_id[-8:]
    short = readable[:POINT_RUN_PART_LENGTH].rstrip("-")
    return {branch: f"{prefix}-{short}-{digest}-{point}-{branch}" for branch in BRANCHES}


def expand_sweep(grid: Mapping[str, Any] | None, *, instance_count: int, prefix: str, run_id: str
                 ) -> dict[str, Any] | None:
    """`config.sweep`: each point overrides `instanceCount`, `names` and `runPrefix` of the run config."""
    if grid is None:
        return None
    return sweep.expand(grid, instance_count=instance_count, point_config=lambda point: {
        "instanceCount": point.instance_count,
        "names": point_names(prefix, run_id, point.point),
        "runPrefix": f"runs/{run_id}/points/{point.point}/",
    })


def build_config(
    raw_input: object,
    *,
    execution_name: str,
    start_time: str = "",
    bucket: str,
    resource_prefix: str,
    defaults: Mapping[str, Any] | None = None,
    source_locations: list[str] | None = None,
) -> dict[str, Any]:
    """The full run config stored at `$.config`: the validated input and `schema.DERIVED_KEYS`."""
    config = validate_execution_input(
        raw_input, defaults, source_locations, latest_year=latest_complete_year(start_time)
    )
    prefix = check_resource_prefix(resource_prefix)
    run_id = run_id_for(execution_name, start_time)
    grid = config["sweep"]
    if grid is not None:
        # Every point shares one dataset whose shard plan every point's count divides; every point is scored
        # by batch transform (no endpoint per point).
        run_count = config["instanceCount"]
        config["instanceCount"] = sweep.shard_plan(grid, run_count)
        config["scoring"] = SCORING_TRANSFORM
        config["sweep"] = expand_sweep(grid, instance_count=run_count, prefix=prefix, run_id=run_id)
    names = {branch: f"{prefix}-{run_id}-{branch}" for branch in BRANCHES}
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
            "transformTimeoutSeconds": TRANSFORM_TIMEOUT_SECONDS,
            "tags": [
                {"Key": STACK_TAG, "Value": prefix},
                {"Key": RUN_TAG, "Value": run_id},
            ],
        }
    )
    return config
