"""One HTTP server on 127.0.0.1 that boto3 talks to as if it were SageMaker (control plane and runtime).

- ``POST /endpoints/<name>/invocations`` is the runtime's ``InvokeEndpoint`` (REST-JSON protocol): the model
  comes from the ``EndpointRegistry``, the answer from ``hosting.invoke``.
- ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` is the control plane (JSON 1.1 protocol), handed
  to ``control_plane.handle(operation, params)``.
- ``POST /`` with ``X-Amz-Target: ServiceQuotasV20190624.<Operation>`` is Service Quotas (the control plane's
  ``quotas``, ``local.service_quotas``), reached through ``AWS_ENDPOINT_URL_SERVICE_QUOTAS``.
- ``POST /`` with ``X-Amz-Target: AWSPriceListService.<Operation>`` is the Price List API (the control plane's
  ``price_list``, ``local.pricing``), reached through ``AWS_ENDPOINT_URL_PRICING``.

Errors use each protocol's wire shape so botocore raises the same ``ClientError`` subclasses as on AWS.
Point boto3 here with ``endpoint_url=server.url`` or ``AWS_ENDPOINT_URL_SAGEMAKER(_RUNTIME)``.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import unquote

from lambdas.lambda_common.vocabulary import ENDPOINT_LOG_GROUP_PREFIX
from local import fake_aws
from local.errors import SageMakerApiError
from local.hosting import EndpointRegistry, ModelContainerError, invoke
from local.pricing import TARGET_PREFIX as PRICE_LIST_TARGET_PREFIX
from local.service_quotas import TARGET_PREFIX as QUOTAS_TARGET_PREFIX

LOG = logging.getLogger(__name__)

MAX_INVOCATION_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's BodyBlob limit in the sagemaker-runtime model
_INVOCATIONS_PATH = re.compile(r"^/endpoints/([^/?]+)/invocations/?(?:\?.*)?$")
_TARGET_PREFIX = "SageMaker."


class ControlPlane(Protocol):
    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one SageMaker API operation; raise ``SageMakerApiError`` as the service would."""
        ...


def _json_default(value: object) -> object:
    # botocore's JSON protocol reads timestamps as epoch seconds.
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses pooled connections
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        body = self._read_body()
        match = _INVOCATIONS_PATH.match(self.path)
        if match:
            self._invocations(unquote(match.group(1)), body)
        elif self.path.split("?")[0] == "/" and self.headers.get("X-Amz-Target"):
            self._control_plane(self.headers["X-Amz-Target"], body)
        else:
            self._send(
                404,
                json.dumps({"message": f"No SageMaker operation at POST {self.path}"}).encode(),
                "application/json",
                {"x-amzn-ErrorType": "UnknownOperationException"},
            )

    def do_GET(self) -> None:
        # The container contract's health check; also handy to see that the server is up.
        if self.path == "/ping":
            self._send(200, b"", "text/plain")
        else:
            self._send(404, b"", "text/plain")

    # -- runtime (REST-JSON) ----------------------------------------------------------------------------

    def _runtime_error(self, error: SageMakerApiError, endpoint_name: str) -> None:
        document: dict[str, Any] = {"ErrorCode": error.code, "Message": error.message}
        if isinstance(error, ModelContainerError):
            registry = self.server.registry
            kind = "client" if error.original_status_code < 500 else "server"
            log_group = f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint_name}"
            # The runtime's wording for a container's non-2xx answer.
            document = {
                "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
                "Message": (
                    f"Received {kind} error ({error.original_status_code}) from primary with message "
                    f'"{error.original_message}". See https://{registry.region}.console.aws.amazon.com/'
                    f"cloudwatch/home?region={registry.region}#logEventViewer:group={log_group} "
                    f"in account {registry.account_id} for more information."
                ),
                "OriginalStatusCode": error.original_status_code,
                "OriginalMessage": error.original_message,
                "LogStreamArn": fake_aws.arn("logs", f"log-group:{log_group}", region=registry.region,
                                             account_id=registry.account_id),
            }
        self._send(
            error.status_code,
            json.dumps(document).encode(),
            "application/json",
            {"x-amzn-ErrorType": f"{error.code}:http://internal.amazon.com/coral/com.amazon.sagemaker/"},
        )

    def _invocations(self, endpoint_name: str, body: bytes) -> None:
        try:
            if len(body) > MAX_INVOCATION_BYTES:
                raise SageMakerApiError(
                    "ValidationError",
                    "1 validation error detected: Value at 'body' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {MAX_INVOCATION_BYTES}",
                )
            model = self.server.registry.get(endpoint_name)
            content_type = self.headers.get("Content-Type") or "application/octet-stream"
            answer, answer_type = invoke(model, content_type, self.headers.get("Accept"), body)
        except SageMakerApiError as error:
            self._runtime_error(error, endpoint_name)
            return
        except Exception:
            LOG.exception("invocation of %s failed", endpoint_name)
            self._runtime_error(SageMakerApiError("InternalFailure", "An internal error occurred.", 500), "")
            return
        self._send(200, answer, answer_type, {"x-Amzn-Invoked-Production-Variant": "AllTraffic"})

    # -- control plane (JSON 1.1) -------------------------------------------------------------------------

    def _json_error(self, code: str, message: str, status: int) -> None:
        self._send(status, json.dumps({"__type": code, "message": message}).encode(), "application/x-amz-json-1.1")

    def _control_plane(self, target: str, body: bytes) -> None:
        control_plane: Any = self.server.control_plane
        if target.startswith(QUOTAS_TARGET_PREFIX) and control_plane is not None:
            operation = target[len(QUOTAS_TARGET_PREFIX) :]
            control_plane = control_plane.quotas
        elif target.startswith(PRICE_LIST_TARGET_PREFIX) and control_plane is not None:
            operation = target[len(PRICE_LIST_TARGET_PREFIX) :]
            control_plane = control_plane.price_list
        elif target.startswith(_TARGET_PREFIX):
            operation = target[len(_TARGET_PREFIX) :]
        else:
            self._json_error("UnknownOperationException", f"Unknown target {target!r}", 400)
            return
        if control_plane is None:
            self._json_error(
                "UnknownOperationException", f"{operation}: this local server has no SageMaker control plane", 400
            )
            return
        try:
            params = json.loads(body) if body else {}
            if not isinstance(params, dict):
                raise ValueError("the request body is not a JSON object")
        except ValueError as error:
            self._json_error("SerializationException", f"Cannot parse the request body: {error}", 400)
            return
        try:
            result = control_plane.handle(operation, params)
            payload = json.dumps(result, default=_json_default).encode()
        except SageMakerApiError as error:
            self._json_error(error.code, error.message, error.status_code)
            return
        except Exception:
            LOG.exception("control plane operation %s failed", operation)
            self._json_error("InternalFailure", f"{operation} failed with an internal error", 500)
            return
        self._send(200, payload, "application/x-amz-json-1.1")


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], registry: EndpointRegistry, control_plane: ControlPlane | None
    ) -> None:
        super().__init__(address, _Handler)
        self.registry = registry
        self.control_plane = control_plane


class LocalSageMakerServer:
    """The local SageMaker endpoint: ``with LocalSageMakerServer(registry=...) as server: ... server.url``."""

    def __init__(
        self,
        *,
        registry: EndpointRegistry,
        control_plane: ControlPlane | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.registry = registry
        self.control_plane = control_plane
        self._address = (host, port)
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._server = _HttpServer(self._address, self.registry, self.control_plane)
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick (tests start and stop many servers).
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"local-sagemaker-{self.url}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> LocalSageMakerServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
