"""Soak: consecutive local executions with random valid parameters and random injected faults (seeded, so a
failure reproduces with the same SHARDLAB_SOAK_SEED). After each run nothing of it may be left, a successful
run's report must be complete and a failed run must have none. Prints: runs, faults injected by kind, leaks."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

import pytest
from faults_helpers import (
    assert_dataset_intact,
    assert_no_report,
    fast_retries,
    leaked,
    run_config,
    run_names,
)

from local.linear_learner import ClusterModel
from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan

pytestmark = pytest.mark.slow

RUNS = 10
SEED = int(os.environ.get("SHARDLAB_SOAK_SEED", "2026"))
SAMPLE_YEARS = list(range(1979, 1985))
# fault kind -> (the error the run ends with, or None for success)
FAULT_OUTCOMES: dict[str, str | None] = {
    "none": None,
    "throttling": None,  # retried with backoff, then the run succeeds
    "training job fails": "TrainingFailed",
    "stopping condition": "TrainingFailed",
    "no spot capacity": "TrainingFailed",
    "endpoint fails": "HostingFailed",
    "endpoint returns errors": "ComparisonFailed",
}


def random_input(rng: random.Random) -> dict[str, Any]:
    years = rng.sample(SAMPLE_YEARS, rng.randint(2, 3))
    return {
        "trainYears": sorted(years[:-1]),
        "testYear": years[-1],
        # The bundled sample's smallest year has 25 distinct event codes: more would be a (correct) data error.
        "topEventCodes": rng.randint(3, 25),
        "instanceCount": rng.randint(1, 3),
        "hyperParameters": {"epochs": "1", "num_models": rng.choice(["2", "4"]),
                            "mini_batch_size": rng.choice(["200", "500"])},
        "useSpotInstances": rng.random() < 0.3,
        "seed": rng.randint(0, 2**32 - 1),
        "trainFraction": rng.choice([0.8, 0.9]),
    }


def inject(local: LocalShardlab, kind: str, run_name: str, execution_input: dict[str, Any],
           rng: random.Random) -> None:
    """Set the local SageMaker's faults for this run only (patterns match this run's names)."""
    branch = rng.choice(["replicated", "sharded"])
    mine = f"*-{run_name}-*-{branch}"
    plan = FaultPlan()
    local.sagemaker.cluster = ClusterModel()
    if kind == "throttling":
        plan.throttle = {rng.choice(["CreateTrainingJob", "CreateModel", "CreateEndpointConfig",
                                     "CreateEndpoint"]): rng.randint(1, 2)}
    elif kind == "training job fails":
        plan.training_failures = {mine: "ClientError: injected algorithm failure"}
    elif kind == "stopping condition":
        local.sagemaker.cluster = ClusterModel(setup_seconds=600.0)
        execution_input["maxRuntimeInSeconds"] = 60
    elif kind == "no spot capacity":
        execution_input["useSpotInstances"] = True
        plan.spot_capacity_unavailable = (mine,)
    elif kind == "endpoint fails":
        plan.endpoint_failures = {mine: "injected: the endpoint could not be provisioned"}
    elif kind == "endpoint returns errors":
        plan.invocation_failures = {mine: "injected: the container crashed"}
    local.sagemaker.faults = plan
    local.registry.invocation_failures = dict(plan.invocation_failures)


def check_run(local: LocalShardlab, kind: str, description: dict[str, Any]) -> list[str]:
    """Problems with one finished run (empty when it behaved); leaked resources are listed as such."""
    expected = FAULT_OUTCOMES[kind]
    config = run_config(description["executionArn"])
    problems = [f"leaked {item}" for item in leaked(run_names(config))]
    if expected is None:
        if description["status"] != "SUCCEEDED":
            return [*problems, f"{kind}: expected success, got {description['status']} {description.get('cause')}"]
        report = json.loads(local.read_object(f"{config['runPrefix']}report.json"))
        for branch in ("replicated", "sharded"):
            test = report["models"][branch]["test"]
            if not (test["mse"] >= 0 and test["mae"] >= 0):
                problems.append(f"report: {branch} test metrics missing")
        if not local.read_object(f"{config['runPrefix']}report.md"):
            problems.append("report.md is empty")
        if "verdict" not in json.loads(description["output"])["summary"]:
            problems.append("the output has no verdict")
    else:
        if description["status"] != "FAILED" or description.get("error") != expected:
            return [*problems, f"{kind}: expected {expected}, got {description['status']} {description.get('error')}"]
        assert_no_report(local, config)
    assert_dataset_intact(local, config)
    return problems


def test_soak_random_runs_and_faults_leave_nothing(template: dict[str, Any]) -> None:
    rng = random.Random(SEED)
    injected: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    leaks = 0
    # Every kind at least once (in a random order), the remaining runs drawn at random.
    kinds = rng.sample(list(FAULT_OUTCOMES), len(FAULT_OUTCOMES))
    kinds += [rng.choice(list(FAULT_OUTCOMES)) for _ in range(RUNS - len(kinds))]
    with LocalShardlab(template) as local, fast_retries():
        for index, kind in enumerate(kinds):
            execution_input = random_input(rng)
            run_name = f"soak-{SEED}-{index}"
            inject(local, kind, run_name, execution_input, rng)
            description = local.run(execution_input, name=run_name, timeout_seconds=300)
            injected[kind] += 1
            outcomes[description["status"]] += 1
            found = check_run(local, kind, description)
            leaks += sum(item.startswith("leaked ") for item in found)
            problems += [f"run {index} ({kind}, input {json.dumps(execution_input)}): {p}" for p in found]
    print(f"\nsoak (seed {SEED}): {RUNS} runs, {dict(outcomes)}")
    print(f"{'fault injected':<26}{'runs':>5}")
    for kind in FAULT_OUTCOMES:
        print(f"{kind:<26}{injected[kind]:>5}")
    print(f"{'resources leaked':<26}{leaks:>5}")
    assert problems == []
    assert leaks == 0
