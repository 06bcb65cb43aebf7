"""The batch transform stage (`scoring` `transform`) in the definition: bounded in history and in payload.

Step Functions keeps at most 25,000 events per execution and 256 KiB per state input/output; both limits are
computed from the decoded definition (tests/test_stack_history.py does the events of the whole definition)."""

from __future__ import annotations

import copy
import json
from typing import Any

from botocore.session import get_session
from test_stack_history import (
    CONTAINER_EVENTS,
    SYNC_TASK_EXTRA,
    TASK_EVENTS,
    reachable,
    state_events,
    worst_case_events,
)

from lambdas.lambda_common.vocabulary import BRANCHES
from lambdas.workflow_input.config import build_config

PAYLOAD_LIMIT = 256 * 1024
SAGEMAKER = get_session().get_service_model("sagemaker")
STAGE = "Score by batch transform"


def transform_config() -> dict[str, Any]:
    return build_config({"scoring": "transform"}, execution_name="x", bucket="b", resource_prefix="shardlab")


def test_the_history_bound_counts_the_transform_stage(definition: dict[str, Any]) -> None:
    config = transform_config()
    stage = definition["States"][STAGE]
    tasks = [state for branch in stage["Branches"] for state in branch["States"].values()]
    assert sorted(t["Resource"].rsplit(":", 1)[1] for t in tasks) == [
        "createModel", "createModel", "createTransformJob.sync", "createTransformJob.sync"]
    retried = sum(3 * r["MaxAttempts"] for t in tasks for r in t["Retry"])
    assert state_events(stage, config) == CONTAINER_EVENTS + 4 * TASK_EVENTS + 2 * SYNC_TASK_EXTRA + retried
    without = copy.deepcopy(definition)
    without["States"][STAGE] = {"Type": "Pass", "Next": stage["Next"]}  # 2 events
    counted = worst_case_events(definition, config) - worst_case_events(without, config)
    # the bound counts what a run can reach: the stage's Catch handler goes with it
    caught = reachable(definition, config) - reachable(without, config) - {STAGE}
    assert caught == {catch["Next"] for catch in stage["Catch"]}
    assert counted == state_events(stage, config) - 2 + sum(
        state_events(definition["States"][name], config) for name in caught)
    # the job is bounded in time too: its task times out after config.transformTimeoutSeconds
    assert {t.get("TimeoutSecondsPath") for t in tasks if t["Resource"].endswith(".sync")} == {
        "$.config.transformTimeoutSeconds"}


def _longest(shape_name: str) -> int:
    shape = SAGEMAKER.shape_for(shape_name)
    return max(map(len, shape.enum)) if shape.enum else int(shape.metadata["max"])


def test_the_stage_adds_a_bounded_payload(definition: dict[str, Any]) -> None:
    """What `$.transform` can hold at most: each job's selected fields, at the service model's longest values."""
    stage = definition["States"][STAGE]
    assert stage["ResultPath"] == "$.transform"
    assert stage["ResultSelector"] == {f"{branch}.$": f"$[{i}]" for i, branch in enumerate(BRANCHES)}
    selectors = [state["ResultSelector"] for branch in stage["Branches"] for state in branch["States"].values()
                 if state["Resource"].endswith("createTransformJob.sync")]
    longest = {"$.TransformJobName": "a" * _longest("TransformJobName"),
               "$.TransformOutput.S3OutputPath": "s" * _longest("S3Uri"),
               "$.TransformResources.InstanceType": "i" * _longest("TransformInstanceType"),
               "$.TransformResources.InstanceCount": 2**31 - 1,
               "$.TransformStartTime": 10**13, "$.TransformEndTime": 10**13}
    worst = {branch: {key.removesuffix(".$"): longest[path] for key, path in selector.items()}
             for branch, selector in zip(BRANCHES, selectors, strict=True)}
    size = len(json.dumps({"transform": worst}))
    assert size < 4096 < PAYLOAD_LIMIT
    # the model branches' own results are dropped by the Parallel's ResultSelector: only $[i] of the last state
    for branch in stage["Branches"]:
        created = [s for s in branch["States"].values() if s["Resource"].endswith("createModel")]
        assert [s["ResultPath"] for s in created] == ["$.created.model"]
