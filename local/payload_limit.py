"""Step Functions' payload limit, enforced in local mode as AWS enforces it.

AWS: a state's input, output and a task's result are each at most 256 KiB (262,144 bytes) of UTF-8 JSON.
Past it the execution fails with ``States.DataLimitExceeded`` ("The state/task '<name>' returned a result with
a size exceeding the maximum number of bytes service limit."), a terminal error that ``States.ALL`` does not
catch: no Catch runs, so no clean-up either. AWS reports it when a connector's output, a state's output, or a
state's input after Parameters processing is larger than the quota.

moto's interpreter (pinned) checks task results and state outputs, but measures JSON with a space after every
``,`` and ``:`` (more bytes than Step Functions counts), fails at exactly 262,144 bytes instead of above it,
never checks the input a state builds with Parameters or ItemSelector, and lets ``States.ALL`` catch the error.
While ``installed()`` all four follow AWS. ``observed()`` hands every measured size to a callback: the payload
test (tests/test_stack_payload.py) records the largest one of a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common import parargs
from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_map import item_selector
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

PAYLOAD_LIMIT_BYTES = 262_144  # 256 KiB, "Maximum input or output size for a task, state, or execution"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"

# moto modules that imported moto's own size check by name.
_SIZE_CHECK_MODULES = (state_module, state_task_service, state_task_lambda)
# What builds a state's input: Parameters (Task, Pass, Parallel, ...) and a Map's ItemSelector.
_INPUT_BUILDERS = (parargs.Parargs, item_selector.ItemSelector)
_observers: list[Callable[[int], None]] = []


def _as_json(value: Any) -> str:
    # The interpreter keeps timestamps as datetimes; Step Functions hands them on as ISO 8601 strings.
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def payload_bytes(value: Any) -> int:
    """The size Step Functions counts: compact JSON, UTF-8 (a string is already the serialized payload)."""
    if not isinstance(value, str):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_as_json)
    return len(value.encode())


def within_limit(value: Any) -> bool:
    size = payload_bytes(value)
    for observer in _observers:
        observer(size)
    return size <= PAYLOAD_LIMIT_BYTES


def data_limit_cause(name: str) -> str:
    return (f"The state/task '{name}' returned a result with a size exceeding the maximum number of bytes "
            "service limit.")


def _check_built_input(original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def eval_body(self: Any, env: Any) -> None:
        original(self, env)
        if not within_limit(env.stack[-1]):
            name = env.states.context_object.context_object_data.get("State", {}).get("Name", "")
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error=DATA_LIMIT_EXCEEDED, cause=data_limit_cause(name)
                        )
                    ),
                )
            )

    return eval_body


def _terminal_errors_escape_states_all(original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        original(self, env)
        if getattr(error_name, "error_name", None) == DATA_LIMIT_EXCEEDED and error_name not in self.error_names:
            env.stack[-1] = False  # matched only by States.ALL, which AWS does not let catch it

    return eval_body


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """AWS's payload limit in moto's interpreter while active (local/sfn_hooks.py installs it with its hooks)."""
    saved_checks = [module.is_within_size_quota for module in _SIZE_CHECK_MODULES]
    saved_builders = [builder.__dict__.get("_eval_body") for builder in _INPUT_BUILDERS]
    matcher = error_equals_decl.ErrorEqualsDecl
    saved_matcher = matcher._eval_body
    if any(check is not saved_checks[0] for check in saved_checks) or None in saved_builders:
        raise RuntimeError("moto's payload size check moved: update local/payload_limit.py")
    for module in _SIZE_CHECK_MODULES:
        module.is_within_size_quota = within_limit
    for builder, original in zip(_INPUT_BUILDERS, saved_builders, strict=True):
        builder._eval_body = _check_built_input(original)
    matcher._eval_body = _terminal_errors_escape_states_all(saved_matcher)
    try:
        yield
    finally:
        for module, check in zip(_SIZE_CHECK_MODULES, saved_checks, strict=True):
            module.is_within_size_quota = check
        for builder, original in zip(_INPUT_BUILDERS, saved_builders, strict=True):
            builder._eval_body = original
        matcher._eval_body = saved_matcher


@contextlib.contextmanager
def observed(observer: Callable[[int], None]) -> Iterator[None]:
    """Calls ``observer(size)`` for every payload measured while active."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)
