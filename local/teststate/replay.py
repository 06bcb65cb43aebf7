"""Answer TestState requests on local mode's own interpreter (moto's), state by state, with the request's mock.

``LocalTestState().test_state(request)`` runs the named state of the request's definition once: the state's
scope (its branch, Map processor or the top level) with every other state replaced by a ``Succeed``, the
recorded input and Context object, and the mock standing in for the service (or the Map/Parallel's run). The
answer has TestState's response members (``status``, ``output``, ``nextState``, ``error``, ``cause``).
It never calls a service: a Task, Map or Parallel request without a mock is refused, as ``verify-aws`` refuses it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import threading
import types
from typing import Any

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from local import sfn_hooks
from local.executions import wait_for_execution
from local.fake_aws import role_arn
from local.runner import _FAKE_CREDENTIALS, patched_environ
from local.teststate.recorder import Recorder, recording, replaying

MOCKED_TYPES = ("Task", "Map", "Parallel")


def scope_of(definition: dict[str, Any], state_name: str) -> dict[str, Any] | None:
    states = definition.get("States", {})
    if state_name in states:
        return definition
    for state in states.values():
        for inner in [*state.get("Branches", []), state.get("ItemProcessor") or state.get("Iterator") or {}]:
            found = scope_of(inner, state_name)
            if found is not None:
                return found
    return None


def probe_definition(definition: dict[str, Any], state_name: str) -> dict[str, Any]:
    """A machine that starts at ``state_name`` and stops at whatever state comes next."""
    scope = scope_of(definition, state_name)
    if scope is None:
        raise ValueError(f"stateName {state_name!r} is not a state of the definition")
    probe = {key: value for key, value in definition.items() if key in ("QueryLanguage",)}
    probe["StartAt"] = state_name
    probe["States"] = {
        name: state if name == state_name else {"Type": "Succeed"} for name, state in scope["States"].items()
    }
    return probe


def missing_mock(definition: dict[str, Any], request: dict[str, Any]) -> str | None:
    """Why a request must not be sent: a state that would call a service (or run branches) without a mock."""
    scope = scope_of(definition, request["stateName"])
    state = scope["States"][request["stateName"]] if scope else {}
    if state.get("Type") in MOCKED_TYPES and not request.get("mock"):
        return f"{request['stateName']!r} is a {state['Type']} state and the request has no mock"
    return None


@contextlib.contextmanager
def _parsed_once() -> Any:
    # Parsing is most of a replay's time and every replay of a state parses the same probe: parse it once.
    # (A parsed program keeps its per-run data in the execution's environment, so it can be run again.)
    original = AmazonStateLanguageParser.parse
    AmazonStateLanguageParser.parse = staticmethod(functools.lru_cache(maxsize=256)(original))
    try:
        yield
    finally:
        AmazonStateLanguageParser.parse = staticmethod(original)


@contextlib.contextmanager
def _no_waiting() -> Any:
    original = WaitFunction._wait_interval
    WaitFunction._wait_interval = lambda self, env, wait_seconds: None
    try:
        yield
    finally:
        WaitFunction._wait_interval = original


class LocalTestState:
    """TestState on moto's interpreter (a context manager: moto's mock and the recorder are active inside)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._names = itertools.count()
        self.recorder = Recorder()
        self._machines: dict[str, str] = {}

    def __enter__(self) -> LocalTestState:
        self._stack.enter_context(patched_environ(_FAKE_CREDENTIALS))
        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        self._stack.enter_context(sfn_hooks.installed({}))  # .sync accepted as on AWS; the mock answers it
        self._stack.enter_context(recording(self.recorder))
        # A retried state is answered at once: the retrier's interval is not what TestState tests.
        saved = retrier_decl.time
        retrier_decl.time = types.SimpleNamespace(sleep=lambda seconds: None)
        self._stack.callback(setattr, retrier_decl, "time", saved)
        # A Wait state's interval is evaluated (a bad SecondsPath still fails) but not waited out: only the
        # state's output and next state are compared.
        self._stack.enter_context(_no_waiting())
        self._stack.enter_context(_parsed_once())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def test_state(self, request: dict[str, Any]) -> dict[str, Any]:
        definition = json.loads(request["definition"])
        refusal = missing_mock(definition, request)
        if refusal:
            raise ValueError(refusal)
        with self._lock:
            return self._run(definition, request)

    def _run(self, definition: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        sfn = boto3.client("stepfunctions")
        probe = json.dumps(probe_definition(definition, request["stateName"]))
        machine = self._machines.get(probe)
        if machine is None:  # parsing a definition is most of a replay's time: one machine per probe
            machine = self._machines[probe] = sfn.create_state_machine(
                name=f"teststate-{next(self._names)}", definition=probe, roleArn=role_arn("teststate")
            )["stateMachineArn"]
        seen = len(self.recorder.records)
        with replaying(request) as replay:
            execution = sfn.start_execution(
                stateMachineArn=machine, name=f"replay-{next(self._names)}", input=request.get("input") or "{}"
            )
            wait_for_execution(sfn, execution["executionArn"], timeout_seconds=300, poll_seconds=0.01)
        records = [r for r in self.recorder.records[seen:] if r["stateName"] == request["stateName"]]
        if replay.retried:
            return {"status": "RETRIABLE"}
        if not records:
            raise RuntimeError(f"the interpreter never finished {request['stateName']!r}")
        record = records[0]
        if record["status"] == "FAILED":
            return {"status": "FAILED", "error": record.get("error", ""), "cause": record.get("cause", "")}
        response = {"status": record["status"], "output": json.dumps(record["output"], separators=(",", ":"))}
        if record.get("nextState"):
            response["nextState"] = record["nextState"]
        return response


