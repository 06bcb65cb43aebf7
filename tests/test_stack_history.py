"""Step Functions keeps at most 25,000 events per execution; past that the execution fails with
States.Runtime ("exceeded the maximum number of history events"), which no Catch sees, so the clean-up
would never run. The worst-case event count of the decoded definition, for every valid input, must stay
well under that limit.

The bound is computed from the definition: every state is assumed to be entered as often as it can be
(once, or once per loop iteration / Map item), every Task to exhaust every Retry, and both arms of every
Choice and every Catch path to run, except a Choice on the run config alone (`Sweep?`, `Score by batch
transform?`, `Keep endpoints?`): the config is fixed for the execution, so it takes the arm the config selects.
That over-counts any real execution, so the real count is lower.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.lambda_common.gdelt_sources import latest_complete_year
from lambdas.workflow_input.config import build_config, endpoint_poll_schedule
from lambdas.workflow_input.schema import DEFAULTS, MAX_SHARD_ITEMS
from lambdas.workflow_input.sweep import MAX_SWEEP_POINTS
from lambdas.workflow_input.validators import FIRST_YEARLY_FILE

HISTORY_LIMIT = 25_000
# "Well under": room for the definition to grow (and for events this model does not name, such as
# ExecutionFailed after a Fail state) before anyone gets near the limit.
HEADROOM = 0.5
DEFAULT_MAX_ATTEMPTS = 3  # a Retrier without MaxAttempts

# Events of one visit without retries (Step Functions history event types per state type).
SIMPLE_STATE_EVENTS = {"Pass": 2, "Wait": 2, "Choice": 2, "Succeed": 2, "Fail": 1}
TASK_EVENTS = 5  # TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited
SYNC_TASK_EXTRA = 1  # TaskSubmitted (a .sync integration reports the job's submission)
FAILED_ATTEMPT_EVENTS = 3  # TaskScheduled, TaskStarted, TaskFailed of an attempt that is retried
CONTAINER_EVENTS = 4  # Parallel/Map: StateEntered, StateStarted, StateSucceeded, StateExited
MAP_ITERATION_EVENTS = 2  # MapIterationStarted, MapIterationSucceeded
EXECUTION_EVENTS = 2  # ExecutionStarted, ExecutionSucceeded/Failed


def extreme_inputs() -> Iterator[dict[str, Any]]:
    """Valid inputs that maximize what the definition iterates over: every poll interval (the loop's
    length depends on it), and the longest list of years (the Map's items)."""
    for poll_seconds in range(1, 301):
        yield {"endpointPollSeconds": poll_seconds}
    # the most Map items a run may have: 12 per year from 2006 (one per month), 1 per earlier year
    later = list(range(2006, latest_complete_year() + 1))[: MAX_SHARD_ITEMS // 12]
    earlier = list(range(FIRST_YEARLY_FILE, 2006))[: MAX_SHARD_ITEMS - 12 * len(later)]
    years = earlier + later
    yield {"trainYears": years[:-1], "testYear": years[-1], "endpointPollSeconds": 1}
    # the largest sweep (MAX_SWEEP_POINTS points, each one more Map iteration) on the most Map items
    yield {"trainYears": years[:-1], "testYear": years[-1], "endpointPollSeconds": 1, "sweep": LARGEST_SWEEP}


# 6 x 2 x 2 = 24 points (MAX_SWEEP_POINTS); lcm(1..6) = 60 train objects per group, within MAX_INSTANCE_COUNT
LARGEST_SWEEP = {"instanceCount": [1, 2, 3, 4, 5, 6],
                 "hyperParameters": {"epochs": ["1", "2"], "mini_batch_size": ["100", "200"]}}


def configs() -> list[dict[str, Any]]:
    return [build_config(raw, execution_name="history-bound", bucket="b", resource_prefix="shardlab")
            for raw in extreme_inputs()]


def path_value(path: str, config: dict[str, Any]) -> Any:
    assert path.startswith("$.config."), path
    value: Any = config
    for part in path.removeprefix("$.config.").split("."):
        value = value[part]
    return value


def successors(state: dict[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return found


def cycles(states: dict[str, dict[str, Any]]) -> list[set[str]]:  # noqa: C901 -- Tarjan's algorithm, kept whole as published
    """Strongly connected components with a loop (Tarjan), within one States block."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for nxt in successors(states[name]):
            if nxt not in index:
                visit(nxt)
                low[name] = min(low[name], low[nxt])
            elif nxt in stack:
                low[name] = min(low[name], index[nxt])
        if low[name] == index[name]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == name:
                    break
            if len(component) > 1 or name in successors(states[name]):
                found.append(component)

    for name in states:
        if name not in index:
            visit(name)
    return found


def loop_iterations(states: dict[str, dict[str, Any]], loop: set[str], config: dict[str, Any]) -> int:
    """How often the states of a loop can run: the loop must be a counter compared with a config value
    (`NumericGreaterThanEqualsPath` on `$.config.*` in a Choice), incremented by 1 in a Pass of the loop and
    started at 0 by a Pass outside it. Any other loop is unbounded and fails the test."""
    bounds = [
        (rule["Variable"], rule["NumericGreaterThanEqualsPath"])
        for name in loop if states[name]["Type"] == "Choice"
        for rule in states[name]["Choices"] if "NumericGreaterThanEqualsPath" in rule
    ]
    assert len(bounds) == 1, f"loop {sorted(loop)} has no single counter bound: {bounds}"
    ((counter, limit_path),) = bounds
    container, _, key = counter.rpartition(".")

    def sets_counter(name: str, expression: str) -> bool:
        state = states[name]
        return (state["Type"] == "Pass" and state.get("ResultPath") == container
                and (state.get("Parameters", {}).get(f"{key}.$") == expression
                     or state.get("Parameters", {}).get(key) == expression))

    increments = [n for n in loop if sets_counter(n, f"States.MathAdd({counter}, 1)")]
    starts = [n for n in states if n not in loop and states[n]["Type"] == "Pass"
              and states[n].get("ResultPath") == container
              and (states[n].get("Parameters") or states[n].get("Result") or {}).get(key) == 0]
    assert len(increments) == 1 and starts, (sorted(loop), increments, starts)
    # The counter runs 0, 1, ..., limit: the loop's states run limit + 1 times.
    return int(path_value(limit_path, config)) + 1


def retried_attempts(state: dict[str, Any]) -> int:
    return sum(int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)) for retrier in state.get("Retry", []))


def state_events(state: dict[str, Any], config: dict[str, Any]) -> int:
    kind = state["Type"]
    if kind in SIMPLE_STATE_EVENTS:
        return SIMPLE_STATE_EVENTS[kind]
    if kind == "Task":
        once = TASK_EVENTS + (SYNC_TASK_EXTRA if state["Resource"].endswith(".sync") else 0)
        return once + FAILED_ATTEMPT_EVENTS * retried_attempts(state)
    if kind == "Parallel":
        body = CONTAINER_EVENTS + sum(block_events(branch, config) for branch in state["Branches"])
        return body * (1 + retried_attempts(state))
    if kind == "Map":
        items = len(path_value(state["ItemsPath"], config))
        body = MAP_ITERATION_EVENTS + block_events(state["ItemProcessor"], config)
        return (CONTAINER_EVENTS + items * body) * (1 + retried_attempts(state))
    raise AssertionError(f"no event count modelled for state type {kind}")


def rule_holds(rule: dict[str, Any], value: Any) -> bool:
    if "BooleanEquals" in rule:
        return bool(value is rule["BooleanEquals"])
    if "StringEquals" in rule:
        return bool(value == rule["StringEquals"])
    if "IsNull" in rule:
        return (value is None) is rule["IsNull"]
    raise AssertionError(f"no evaluation modelled for the Choice rule {rule}")


def config_choice(state: dict[str, Any], config: dict[str, Any]) -> str | None:
    """The state a Choice whose every rule reads the run config goes to, or None if a rule reads anything else."""
    rules = state["Choices"]
    if not all(rule.get("Variable", "").startswith("$.config.") for rule in rules):
        return None
    taken = next((rule["Next"] for rule in rules if rule_holds(rule, path_value(rule["Variable"], config))), None)
    return str(taken if taken is not None else state["Default"])


def reachable(block: dict[str, Any], config: dict[str, Any]) -> set[str]:
    """The states the run can enter: every successor, but only the taken arm of a Choice on the config."""
    states = block["States"]
    found, pending = set(), [block["StartAt"]]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        state = states[name]
        taken = config_choice(state, config) if state["Type"] == "Choice" else None
        pending += [taken] if taken is not None else successors(state)
    return found


def block_events(block: dict[str, Any], config: dict[str, Any]) -> int:
    states = block["States"]
    visits = dict.fromkeys(states, 1)
    for loop in cycles(states):
        iterations = loop_iterations(states, loop, config)
        for name in loop:
            visits[name] = iterations
    return sum(visits[name] * state_events(states[name], config) for name in reachable(block, config))


def worst_case_events(definition: dict[str, Any], config: dict[str, Any]) -> int:
    return EXECUTION_EVENTS + block_events(definition, config)


def test_every_valid_input_stays_well_under_the_history_limit(definition: dict[str, Any]) -> None:
    counts = [(worst_case_events(definition, config), config["endpointPollSeconds"], len(config["shardYears"]),
               len((config["sweep"] or {}).get("points", [])))
              for config in configs()]
    worst = max(counts)
    print(f"worst case {worst}; the largest sweep's {max(c for c in counts if c[3])}")  # the figures (pytest -s)
    assert worst[0] <= HISTORY_LIMIT * HEADROOM, f"worst case {worst} (events, endpointPollSeconds, years, points)"


def test_the_largest_sweep_has_the_most_points_a_sweep_may_have() -> None:
    config = build_config({"sweep": LARGEST_SWEEP}, execution_name="x", bucket="b", resource_prefix="shardlab")
    assert len(config["sweep"]["points"]) == MAX_SWEEP_POINTS


def blocks(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every States block: the definition, Parallel branches, Map item processors (nested)."""
    yield block
    for state in block["States"].values():
        for inner in [*state.get("Branches", []), *([state["ItemProcessor"]] if "ItemProcessor" in state else [])]:
            yield from blocks(inner)


def test_the_model_counts_the_poll_loops_and_the_map(definition: dict[str, Any]) -> None:
    """The bound reacts to what it claims to bound: a longer schedule or more years give more events."""
    config = build_config({}, execution_name="x", bucket="b", resource_prefix="shardlab")
    base = worst_case_events(definition, config)
    loops = [(block, loop) for block in blocks(definition) for loop in cycles(block["States"])]
    assert len(loops) == 2, "expected one endpoint wait loop per hosting branch"
    per_iteration = sum(state_events(block["States"][name], config) for block, loop in loops for name in loop)
    longer = {**config, "maxEndpointPolls": config["maxEndpointPolls"] + 10}
    assert worst_case_events(definition, longer) - base == 10 * per_iteration
    more_years = {**config, "shardYears": [*config["shardYears"], {"year": 2000, "role": "train"}]}
    assert worst_case_events(definition, more_years) > base
    # every sweep point is one more iteration of the sweep's Map: the same number of events each
    sweep = build_config({"sweep": LARGEST_SWEEP}, execution_name="x", bucket="b", resource_prefix="shardlab")
    one_point = {**sweep, "sweep": {**sweep["sweep"], "points": sweep["sweep"]["points"][:1]}}
    per_point = worst_case_events(definition, sweep) - worst_case_events(definition, one_point)
    assert per_point > 0 and per_point % (MAX_SWEEP_POINTS - 1) == 0


@pytest.mark.parametrize("poll_seconds", [1, 2, 3, 30, 300])
def test_the_poll_schedule_covers_an_hour_with_few_polls(poll_seconds: int) -> None:
    config = build_config({"endpointPollSeconds": poll_seconds}, execution_name="x", bucket="b",
                          resource_prefix="shardlab")
    schedule = config["endpointPollSchedule"]
    assert schedule == endpoint_poll_schedule(poll_seconds)
    assert schedule[0] == poll_seconds and sum(schedule) >= 3600
    assert sum(schedule[:-1]) < 3600  # no poll beyond the hour
    assert config["maxEndpointPolls"] == len(schedule) - 1 <= 140
    assert max(schedule) == max(poll_seconds, 30)


def test_the_default_poll_interval_keeps_its_meaning() -> None:
    schedule = endpoint_poll_schedule(DEFAULTS["endpointPollSeconds"])
    assert set(schedule) == {30} and len(schedule) == 120


def test_wait_states_take_their_seconds_from_the_schedule(definition: dict[str, Any]) -> None:
    waits = [s for block in blocks(definition) for s in block["States"].values() if s["Type"] == "Wait"]
    assert len(waits) == 2 and {w.get("SecondsPath") for w in waits} == {"$.poll.waitSeconds"}


def test_a_choice_on_the_run_config_counts_only_the_arm_the_config_takes(definition: dict[str, Any]) -> None:
    single = build_config({}, execution_name="x", bucket="b", resource_prefix="shardlab")
    sweep = build_config({"sweep": {"instanceCount": [1, 2]}}, execution_name="x", bucket="b",
                         resource_prefix="shardlab")
    on_single, on_sweep = reachable(definition, single), reachable(definition, sweep)
    assert "Run sweep points" not in on_single and {"Run sweep points", "Report sweep"} <= on_sweep
    assert "Host both models" in on_single and "Score by batch transform" not in on_single
    assert not {"Host both models", "Score by batch transform", "Keep endpoints?"} & on_sweep
    # a Choice on data the run finds (a prepared dataset or not) keeps both arms; so does every Catch
    assert {"Shard years", "Finalize dataset", "Clean up after failure", "Sweep failed"} <= on_sweep
    transform = build_config({"scoring": "transform"}, execution_name="x", bucket="b", resource_prefix="shardlab")
    assert worst_case_events(definition, transform) < worst_case_events(definition, single)  # no endpoint wait loop
