"""A loopback stand-in for Step Functions' TestState (AWS JSON 1.0 protocol), for ``verify-aws`` offline.

It answers as the API reference describes: the request is checked against botocore's ``TestState`` input shape,
a mock in STRICT mode against its integration's output shape (``ValidationException`` otherwise), and the
named state runs on local mode's interpreter (``LocalTestState``). ``DescribeStateMachine`` returns the
definitions it was given. ``throttle_first`` answers that many requests with ``ThrottlingException`` first.
This proves the wire and the tool, not AWS.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.aws_models import input_errors, strict_errors
from local.teststate.replay import LocalTestState, scope_of
from local.teststate.suite import integration_of

TARGET_PREFIX = "AWSStepFunctions."


class ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def mock_errors(request: dict[str, Any]) -> list[str]:
    """STRICT: the mock result must be a valid answer of the state's integration."""
    mock = request.get("mock") or {}
    if "result" not in mock or mock.get("fieldValidationMode", "STRICT") != "STRICT":
        return []
    definition = json.loads(request["definition"])
    scope = scope_of(definition, request["stateName"]) or {"States": {}}
    integration = integration_of(scope["States"].get(request["stateName"], {}))
    if integration is None:
        return []
    service, operation = integration.split(":")
    return strict_errors(service, operation, json.loads(mock["result"]))


class TestStateStandIn:
    """Serve TestState on 127.0.0.1 (a context manager; ``url`` is the endpoint)."""

    __test__ = False  # not a pytest class

    def __init__(self, *, definitions: dict[str, str] | None = None, throttle_first: int = 0) -> None:
        self.definitions = definitions or {}
        self.throttle_left = throttle_first
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._local = LocalTestState()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                target = (self.headers.get("X-Amz-Target") or "").removeprefix(TARGET_PREFIX)
                try:
                    status, answer = 200, stand_in.handle(target, body)
                except ServiceError as error:
                    status, answer = 400, {"__type": error.code, "message": str(error)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append({"target": target, **body})
            if self.throttle_left > 0:
                self.throttle_left -= 1
                raise ServiceError("ThrottlingException", "Rate exceeded")
        if target == "DescribeStateMachine":
            arn = body.get("stateMachineArn", "")
            if arn not in self.definitions:
                raise ServiceError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
            return {"stateMachineArn": arn, "definition": self.definitions[arn]}
        if target != "TestState":
            raise ServiceError("UnknownOperationException", f"the stand-in answers no {target}")
        problems = input_errors("stepfunctions", "TestState", body) + mock_errors(body)
        if problems:
            raise ServiceError("ValidationException", "; ".join(problems))
        try:
            return self._local.test_state(body)
        except ValueError as error:
            raise ServiceError("ValidationException", str(error)) from error

    def __enter__(self) -> TestStateStandIn:
        self._local.__enter__()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._local.__exit__(*exc_info)
