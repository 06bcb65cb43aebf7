"""Record every state a local run enters, as the ``TestState`` requests that would reproduce it on AWS.

While ``recording(recorder)`` is active, three class-level wrappers sit on moto's interpreter:

* ``CommonStateField._eval_body`` (every state, in every Map iteration and Parallel branch): the state's name,
  effective input, Context object, output and next state, or its error;
* ``ExecutionState._evaluate_with_timeout`` (each attempt of a Task, Map or Parallel): the error of a failed
  attempt, as the state's Retry and Catch see it;
* every ``_eval_execution`` (the service call, the whole Map or Parallel): the result the attempt produced,
  before ResultSelector and ResultPath: that is what TestState's ``mock.result`` stands for.

``Recorder.suite(definition)`` turns the records into the versioned suite format (docs/TESTSTATE.md).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramRunning

from local.teststate.suite import build_suite

SUITE_FILE = Path("teststate") / "suite.json"

_ORIGINAL_BODY = CommonStateField._eval_body
_ORIGINAL_EVALUATE = ExecutionState._evaluate_with_timeout
_EXECUTION_MODULES = (
    "state_map.state_map",
    "state_parallel.state_parallel",
    "state_task.state_task_lambda",
    "state_task.state_task_activitiy",
    "state_task.service.state_task_service",
)
_install_lock = threading.Lock()


class _Hooks:
    """What the installed wrappers consult: the recorder, and the entry being replayed (if any)."""

    recorder: Recorder | None = None
    replaying: Replaying | None = None


_hooks = _Hooks()


class Replaying:
    """What ``local.teststate.replay`` runs one entry with: the named state's mock, context and retry count.

    While set, that state's attempts do not call the service (or run the Map/Parallel): each answers with the
    mock, as TestState does. A second attempt means the state's Retry took the mocked error: ``retried``."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.state_name = entry["stateName"]
        self.mock = entry.get("mock")
        self.context = json.loads(entry.get("context") or "{}")
        self.retry_count = int(entry.get("stateConfiguration", {}).get("retrierRetryCount", 0))
        self.attempts = 0
        self.retried = False

    def prepare(self, state: Any, env: Any) -> None:
        data = env.states.context_object.context_object_data
        data.update({key: value for key, value in self.context.items() if key != "State"})
        for retrier in getattr(getattr(state, "retry", None), "retriers", []) or []:
            # MaxAttemptsDecl counts the attempts it has allowed in the heap; preset them to the recorded count.
            key = retrier.max_attempts._attempt_number_key()
            env.heap[key] = self.retry_count - 1

    def answer(self, env: Any) -> None:
        self.attempts += 1
        if self.attempts > 1:
            self.retried = True
        mock = self.mock or {}
        if "errorOutput" in mock and not self.retried:
            error = mock["errorOutput"].get("error", "")
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=_error_name(error),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=error, cause=mock["errorOutput"].get("cause", "")
                        )
                    ),
                )
            )
        env.stack.append(json.loads(mock.get("result", "null")))


def _error_name(error: str) -> Any:
    if error.startswith("States."):
        try:
            return StatesErrorName.from_name(error)
        except ValueError:
            pass
    return CustomErrorName(error)


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _execution_classes() -> list[type]:
    # Every module that defines an ExecutionState is imported first: the parser imports them lazily.
    for module in _EXECUTION_MODULES:
        importlib.import_module(f"moto.stepfunctions.parser.asl.component.state.exec.{module}")
    found: list[type] = []
    pending: list[type] = [ExecutionState]
    while pending:
        cls = pending.pop()
        method = cls.__dict__.get("_eval_execution")
        if method is not None and not getattr(method, "__isabstractmethod__", False):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


class Recorder:
    """The states one or more executions entered, in the order they finished (thread-safe)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._sequence = 0

    def _next_sequence(self) -> int:
        with self._lock:
            self._sequence += 1
            return self._sequence

    def _add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)

    def suite(self, definition: dict[str, Any], *, execution: str = "") -> dict[str, Any]:
        """The suite of one execution (by name; every recorded execution when empty)."""
        with self._lock:
            records = sorted(self.records, key=lambda record: record["sequence"])
        if execution:
            records = [record for record in records if record["context"]["Execution"]["Name"] == execution]
        return build_suite(definition, records, execution=execution)

    def write(self, out_dir: Path, definition: dict[str, Any], *, execution: str) -> Path:
        """``<out_dir>/teststate/suite.json``; ``out_dir`` is the execution's own directory."""
        path = out_dir / SUITE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.suite(definition, execution=execution), indent=1) + "\n")
        return path


def _recording_body(self: Any, env: Any) -> None:
    recorder = _hooks.recorder
    if recorder is None:
        _ORIGINAL_BODY(self, env)
        return
    replay = _hooks.replaying
    if replay is not None and self.name == replay.state_name:
        replay.prepare(self, env)
    record: dict[str, Any] = {
        "stateName": self.name,
        "sequence": recorder._next_sequence(),
        "input": _json_copy(env.states.get_input()),
        "attempts": [],
    }
    env._teststate_record = record
    try:
        _ORIGINAL_BODY(self, env)
    except FailureEventException as failure:
        error = ExecutionState._construct_error_output_value(failure.failure_event)
        record.update(status="FAILED", error=error["Error"], cause=error["Cause"])
        _finish(recorder, record, env)
        raise
    finally:
        env._teststate_record = None
    state = env.program_state()
    if isinstance(state, ProgramRunning | ProgramEnded):
        caught = bool(record["attempts"]) and "errorOutput" in record["attempts"][-1]
        record["status"] = "CAUGHT_ERROR" if caught else "SUCCEEDED"
        record["output"] = _json_copy(env.states.get_input())
        record["nextState"] = env.next_state_name if isinstance(state, ProgramRunning) else None
        _finish(recorder, record, env)
    # Otherwise the state was abandoned (a failed sibling branch, a stopped execution): nothing to test.


def _finish(recorder: Recorder, record: dict[str, Any], env: Any) -> None:
    context = _json_copy(env.states.context_object.context_object_data)
    record["context"] = context
    record["sequence"] = recorder._next_sequence()
    recorder._add(record)


def _recording_evaluate(self: Any, env: Any) -> None:
    record = getattr(env, "_teststate_record", None)
    if _hooks.recorder is None or record is None:
        _ORIGINAL_EVALUATE(self, env)
        return
    attempt: dict[str, Any] = {"sequence": _hooks.recorder._next_sequence()}
    record["attempts"].append(attempt)
    opened = env.open_frame

    def open_frame(*args: Any, **kwargs: Any) -> Any:
        # The attempt runs in a frame of its own (on another thread); the frame carries the attempt to it.
        frame = opened(*args, **kwargs)
        frame._teststate_attempt = attempt
        return frame

    env.open_frame = open_frame
    try:
        _ORIGINAL_EVALUATE(self, env)
    except Exception as error:
        error_output = self._construct_error_output_value(self._from_error(env=env, ex=error))
        attempt["errorOutput"] = {"error": error_output["Error"], "cause": error_output["Cause"]}
        raise
    finally:
        del env.open_frame


def _recording_execution(original: Any) -> Any:
    def eval_execution(self: Any, env: Any) -> None:
        replay = _hooks.replaying
        if replay is not None and self.name == replay.state_name:
            replay.answer(env)
        else:
            original(self, env)
        attempt = getattr(env, "_teststate_attempt", None)
        if attempt is not None and env.stack:
            attempt["result"] = _json_copy(env.stack[-1])

    return eval_execution


@contextlib.contextmanager
def replaying(entry: dict[str, Any]) -> Iterator[Replaying]:
    """Answer the entry's state with its mock while active (inside ``recording``; one entry at a time)."""
    with _install_lock:
        if _hooks.recorder is None or _hooks.replaying is not None:
            raise RuntimeError("replaying needs an active recorder and no other replay")
        replay = _hooks.replaying = Replaying(entry)
    try:
        yield replay
    finally:
        with _install_lock:
            _hooks.replaying = None


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Record every state moto's interpreter runs into ``recorder`` while active (one recorder at a time)."""
    with _install_lock:
        if _hooks.recorder is not None:
            raise RuntimeError("a TestState recorder is already recording")
        classes = _execution_classes()
        originals = {cls: cls.__dict__["_eval_execution"] for cls in classes}
        CommonStateField._eval_body = _recording_body
        ExecutionState._evaluate_with_timeout = _recording_evaluate
        for cls, original in originals.items():
            setattr(cls, "_eval_execution", _recording_execution(original))  # noqa: B010
        _hooks.recorder = recorder
    try:
        yield recorder
    finally:
        with _install_lock:
            _hooks.recorder = None
            CommonStateField._eval_body = _ORIGINAL_BODY
            ExecutionState._evaluate_with_timeout = _ORIGINAL_EVALUATE
            for cls, original in originals.items():
                setattr(cls, "_eval_execution", original)  # noqa: B010
