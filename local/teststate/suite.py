"""The TestState suite format (version 1, docs/TESTSTATE.md): recorded states as ``TestState`` requests.

One suite per execution::

    {"format": "shardlab/teststate-suite", "version": 1, "execution": "<name>", "definition": {...},
     "entries": [{"stateName": ..., "input": "<JSON>", "context": "<JSON>",
                  "mock": {"result": "<JSON>" | "errorOutput": {...}, "fieldValidationMode": "STRICT"},
                  "stateConfiguration": {"retrierRetryCount": N, "errorCausedByState": ...},
                  "integration": "sagemaker:DescribeTrainingJob",
                  "status": "SUCCEEDED", "output": "<JSON>", "nextState": "...", "error": ..., "cause": ...}]}

``stateName`` .. ``stateConfiguration`` are TestState request members under their API names, with the API's
types (JSON documents as strings); ``status``, ``output``, ``nextState``, ``error`` and ``cause`` are the
response members local mode expects. ``integration`` names the API whose output model the mock follows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SUITE_FORMAT = "shardlab/teststate-suite"
SUITE_VERSION = 1
REQUEST_FIELDS = ("stateName", "input", "mock", "context", "stateConfiguration")
EXPECTED_FIELDS = ("status", "output", "nextState", "error", "cause")
# TestState's mock.result is a string of at most this many characters (API_MockInput).
MOCK_RESULT_MAX_CHARS = 262_144
_STATES_ERROR_PREFIX = "States."


@dataclass(frozen=True)
class StateInfo:
    """A state of the definition: its ASL and the Map/Parallel states it sits in (outermost first)."""

    name: str
    definition: dict[str, Any]
    parents: tuple[str, ...]


def walk_states(definition: dict[str, Any], parents: tuple[str, ...] = ()) -> Iterator[StateInfo]:
    """Every state of a definition, nested branch and Map processor states included."""
    for name, state in definition.get("States", {}).items():
        yield StateInfo(name, state, parents)
        for branch in state.get("Branches", []):
            yield from walk_states(branch, (*parents, name))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from walk_states(processor, (*parents, name))


def integration_of(state: dict[str, Any]) -> str | None:
    """``service:Operation`` of the API whose answer a Task's mock stands for (None: not a Task)."""
    resource = state.get("Resource", "") if state.get("Type") == "Task" else ""
    if not resource.startswith("arn:aws:states:::"):
        return None
    service, _, action = resource.removeprefix("arn:aws:states:::").removeprefix("aws-sdk:").partition(":")
    action, _, pattern = action.partition(".")
    if service == "sagemaker" and pattern == "sync" and action.startswith("create"):
        # The .sync integration hands the state the job's description once the job is terminal
        # (createTrainingJob.sync -> DescribeTrainingJob, createTransformJob.sync -> DescribeTransformJob).
        return f"sagemaker:Describe{action.removeprefix('create')}"
    return f"{service}:{action[:1].upper()}{action[1:]}"


def _retrier_index(state: dict[str, Any], error: str) -> int | None:
    """Which of the state's retriers handles ``error`` (ASL: the first whose ErrorEquals matches)."""
    for index, retrier in enumerate(state.get("Retry", [])):
        names = retrier.get("ErrorEquals", [])
        if error in names or ("States.ALL" in names and error != "States.Runtime"):
            return index
        if "States.TaskFailed" in names and not error.startswith(_STATES_ERROR_PREFIX):
            return index
    return None


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _context(record: dict[str, Any], retry_count: int) -> str:
    context = dict(record["context"])
    state = dict(context.get("State") or {})
    state.update(Name=record["stateName"], RetryCount=retry_count)
    context["State"] = state
    return _dump(context)


def _descendants(states: dict[str, StateInfo], name: str) -> set[str]:
    return {info.name for info in states.values() if name in info.parents}


def _caused_by(
    records: list[dict[str, Any]], inner: set[str], error: str, after: int, before: int
) -> str | None:
    for record in records:
        if (
            record["stateName"] in inner
            and after < record["sequence"] < before
            and record.get("status") == "FAILED"
            and record.get("error") == error
        ):
            return str(record["stateName"])
    return None


def _final_expectation(record: dict[str, Any]) -> dict[str, Any]:
    expected: dict[str, Any] = {"status": record["status"]}
    if record["status"] == "FAILED":
        expected.update(error=record.get("error", ""), cause=record.get("cause", ""))
    else:
        expected["output"] = _dump(record["output"])
        if record.get("nextState"):
            expected["nextState"] = record["nextState"]
    return expected


def _entries_of(  # noqa: C901 -- one branch per recorded outcome
    record: dict[str, Any], states: dict[str, StateInfo], records: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    info = states[record["stateName"]]
    base = {"stateName": record["stateName"], "input": _dump(record["input"])}
    attempts = record["attempts"]
    if not attempts:
        yield {**base, "context": _context(record, 0), **_final_expectation(record)}
        return
    retries_by_retrier: dict[int, int] = {}
    integration = integration_of(info.definition)
    for number, attempt in enumerate(attempts):
        entry: dict[str, Any] = {**base, "context": _context(record, number)}
        configuration: dict[str, Any] = {}
        if "errorOutput" in attempt:
            error = attempt["errorOutput"]["error"]
            entry["mock"] = {"errorOutput": attempt["errorOutput"], "fieldValidationMode": "STRICT"}
            retrier = _retrier_index(info.definition, error)
            if retrier is not None:
                configuration["retrierRetryCount"] = retries_by_retrier.get(retrier, 0)
                retries_by_retrier[retrier] = retries_by_retrier.get(retrier, 0) + 1
            if info.definition["Type"] in ("Map", "Parallel"):
                following = attempts[number + 1]["sequence"] if number + 1 < len(attempts) else record["sequence"]
                cause = _caused_by(records, _descendants(states, info.name), error, attempt["sequence"], following)
                if cause:
                    configuration["errorCausedByState"] = cause
        elif "result" in attempt:
            result = _dump(attempt["result"])
            entry["mock"] = {"result": result, "fieldValidationMode": "STRICT"}
            if len(result) > MOCK_RESULT_MAX_CHARS:
                entry["unsendable"] = (
                    f"mock.result has {len(result)} characters; TestState accepts at most {MOCK_RESULT_MAX_CHARS}"
                )
        else:
            continue  # the attempt never finished (abandoned): nothing to replay
        if configuration:
            entry["stateConfiguration"] = configuration
        if integration:
            entry["integration"] = integration
        last = number == len(attempts) - 1
        entry.update(_final_expectation(record) if last else {"status": "RETRIABLE"})
        yield entry


def build_suite(definition: dict[str, Any], records: list[dict[str, Any]], *, execution: str = "") -> dict[str, Any]:
    """The suite of one or more executions' records (in the order the states finished)."""
    states = {info.name: info for info in walk_states(definition)}
    entries = [entry for record in records for entry in _entries_of(record, states, records)]
    return {
        "format": SUITE_FORMAT,
        "version": SUITE_VERSION,
        "execution": execution,
        "definition": definition,
        "entries": entries,
    }


def load_suite(text: str) -> dict[str, Any]:
    """A suite from its JSON text; refuses other formats and versions by name."""
    suite = json.loads(text)
    if not isinstance(suite, dict) or suite.get("format") != SUITE_FORMAT:
        raise ValueError(f"not a TestState suite: 'format' must be {SUITE_FORMAT!r}")
    if suite.get("version") != SUITE_VERSION:
        raise ValueError(f"TestState suite version {suite.get('version')!r} is not {SUITE_VERSION} (this tool's)")
    return suite


def request_of(entry: dict[str, Any], definition: str) -> dict[str, Any]:
    """The TestState request of an entry, for a definition given as the JSON string TestState takes."""
    return {"definition": definition, **{key: entry[key] for key in REQUEST_FIELDS if key in entry}}
