"""A batch transform job: its state, and the thread (``TransformJob.run``) that takes it through SageMaker's statuses.

``InProgress`` (instances launching, ``STARTING_SECONDS`` simulated) → every object under the input
``S3Prefix`` (S3 key order) is split (``SplitType``: ``RecordIO``, ``Line`` or ``None``), its records batched
into requests of at most ``MaxPayloadInMB`` (``BatchStrategy`` ``MultiRecord``; one record each with
``SingleRecord``) and sent to the model's container, which is the same code that answers a local endpoint
(``local.hosting.invoke`` on the artifact ``local.sagemaker.endpoints.load_model`` reads) → the answers are
assembled (``AssembleWith`` ``Line``: each answer's lines, one per record, each ending in a newline; ``None``:
concatenated) into ``<S3OutputPath>/<key below the input prefix>.out``, as SageMaker names batch transform
output → ``Completed``. A container error, an unreadable artifact or an empty input prefix ends it ``Failed``
with a ``FailureReason``; ``StopTransformJob`` → ``Stopping`` → ``Stopped`` (outputs not yet written stay
unwritten). Injected faults: ``FaultPlan.transform_failures`` / ``slow_transforms``.

A transform job has no stopping condition of its own: the pipeline bounds it with its ``.sync`` task's
``TimeoutSeconds`` (Step Functions then stops it).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from lambdas.lambda_common import recordio
from lambdas.lambda_common.vocabulary import parse_s3_uri
from local.hosting import ModelContainerError, invoke
from local.linear_model import LinearModel, ModelArtifactError
from local.sagemaker.endpoints import Model, load_model
from local.sagemaker.faults import FaultPlan
from local.sagemaker.validation import validation_error

STARTING_SECONDS = 240.0  # assumption: like an endpoint's instances, a transform job's take minutes to come up
ROWS_PER_SECOND = 20000.0  # assumption: one ml.m5.xlarge scoring dense records with a linear model
DEFAULT_MAX_PAYLOAD_MB = 6  # SageMaker's default MaxPayloadInMB
RUNNING_STATUSES = ("InProgress", "Stopping")
OPTIONAL_MEMBERS = ("MaxConcurrentTransforms", "ModelClientConfig", "Environment", "DataProcessing",
                    "ExperimentConfig", "DataCaptureConfig")


class TransformEnvironment(Protocol):
    """What a transform job uses of the control plane running it."""

    faults: FaultPlan
    clock: Callable[[], datetime]
    closing: threading.Event

    @property
    def s3(self) -> Any: ...

    def emit(self, kind: str, **payload: Any) -> None: ...

    def sleep(self, simulated_seconds: float, interrupt: threading.Event | None = None) -> None: ...


class TransformFailedError(Exception):
    """The job fails with this FailureReason."""


class TransformStoppedError(Exception):
    """StopTransformJob (or the control plane closing) reached the job's thread."""


def check_transform_request(request: Mapping[str, Any]) -> None:
    """CreateTransformJob's rules beyond the service model that local mode can check before the job runs."""
    source = request["TransformInput"]["DataSource"]["S3DataSource"]
    if source["S3DataType"] != "S3Prefix":
        raise validation_error(
            f"S3DataType {source['S3DataType']} is not supported in local mode (use S3Prefix)"
        )
    if request["TransformInput"].get("CompressionType", "None") != "None":
        raise validation_error("CompressionType Gzip is not supported in local mode")
    if not request["TransformOutput"]["S3OutputPath"].startswith("s3://"):
        raise validation_error(f"S3OutputPath {request['TransformOutput']['S3OutputPath']!r} is not an s3:// URI")


def split_records(blob: bytes, split_type: str) -> list[bytes]:
    """One object's records as the transform job's SplitType cuts them (each record's bytes, framing included)."""
    if split_type == "None":
        return [blob] if blob else []
    if split_type == "Line":
        return [line + b"\n" for line in blob.splitlines() if line.strip()]
    if split_type == "RecordIO":
        return [recordio.frame(payload) for payload in recordio.iter_payloads(io.BytesIO(blob))]
    raise TransformFailedError(f"ClientError: SplitType {split_type} is not supported in local mode")


def mini_batches(records: list[bytes], *, max_bytes: int, single_record: bool) -> Iterator[bytes]:
    """Request bodies: one record each (SingleRecord), or as many whole records as fit ``max_bytes``."""
    batch: list[bytes] = []
    size = 0
    for record in records:
        if len(record) > max_bytes:
            raise TransformFailedError(
                f"ClientError: a record of {len(record)} bytes exceeds MaxPayloadInMB ({max_bytes // 2**20} MB)"
            )
        if batch and (single_record or size + len(record) > max_bytes):
            yield b"".join(batch)
            batch, size = [], 0
        batch.append(record)
        size += len(record)
    if batch:
        yield b"".join(batch)


def assemble(answers: list[bytes], assemble_with: str) -> bytes:
    """The output object: with ``Line``, every answer's lines each end in a newline; with ``None``, as they are."""
    if assemble_with == "None":
        return b"".join(answers)
    return b"".join(line + b"\n" for answer in answers for line in answer.splitlines() if line.strip())


class TransformJob:
    """One job's state; ``run`` (its own thread) drives it, the control plane reads it and may stop it."""

    def __init__(self, *, name: str, arn: str, request: dict[str, Any], created: datetime, model: Model,
                 environment: TransformEnvironment) -> None:
        self.name = name
        self.arn = arn
        self.request = request
        self.created = created
        self.model = model
        self._env = environment
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.status = "InProgress"
        self.modified = created
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.failure_reason: str | None = None
        self.rows = 0
        self.outputs: list[str] = []

    @property
    def holds_instances(self) -> bool:
        return self.status in RUNNING_STATUSES

    # --- the control plane's calls --------------------------------------------------------------------------

    def request_stop(self) -> None:
        with self._lock:
            if self.status != "InProgress":
                raise validation_error(
                    f"The request was rejected because the transform job is in status {self.status}."
                )
            self.status = "Stopping"
            self.modified = self._env.clock()
            self._stop.set()  # last, under the lock: the job's thread finds Stopping recorded
        self._env.emit("transform.status", name=self.name, status="Stopping")

    def interrupt(self) -> None:
        self._stop.set()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            request = self.request
            response: dict[str, Any] = {
                "TransformJobName": self.name,
                "TransformJobArn": self.arn,
                "TransformJobStatus": self.status,
                "ModelName": request["ModelName"],
                "MaxPayloadInMB": request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB),
                "BatchStrategy": request.get("BatchStrategy", "MultiRecord"),
                "TransformInput": {"CompressionType": "None", "SplitType": "None", **request["TransformInput"]},
                "TransformOutput": {"AssembleWith": "None", **request["TransformOutput"]},
                "TransformResources": dict(request["TransformResources"]),
                "CreationTime": self.created,
            }
            response.update({member: request[member] for member in OPTIONAL_MEMBERS if member in request})
            if self.start is not None:
                response["TransformStartTime"] = self.start
            if self.end is not None:
                response["TransformEndTime"] = self.end
            if self.failure_reason:
                response["FailureReason"] = self.failure_reason
            return response

    def summary(self) -> dict[str, Any]:
        with self._lock:
            summary: dict[str, Any] = {
                "TransformJobName": self.name,
                "TransformJobArn": self.arn,
                "CreationTime": self.created,
                "LastModifiedTime": self.modified,
                "TransformJobStatus": self.status,
            }
            if self.end is not None:
                summary["TransformEndTime"] = self.end
            if self.failure_reason:
                summary["FailureReason"] = self.failure_reason
            return summary

    # --- the lifecycle (the job's thread) ---------------------------------------------------------------------

    def run(self) -> None:
        """InProgress → Completed; or Failed, or Stopping → Stopped."""
        started = self.created + timedelta(seconds=STARTING_SECONDS)
        try:
            delay = self._env.faults.transform_delay(self.name)
            if delay > 0:  # injected: a job slow to finish (real seconds); a stop or close cuts it short
                self._stop.wait(delay)
            self._env.sleep(STARTING_SECONDS, self._stop)
            self._check_stop()
            with self._lock:
                self.start = started
            served = self._load_model()
            injected = self._env.faults.transform_failure(self.name)
            if injected is not None:
                raise TransformFailedError(injected)
            pending = self._transform_objects(served)
            seconds = self.rows / ROWS_PER_SECOND
            self._env.sleep(seconds, self._stop)
            self._check_stop()
            for bucket, key, body in pending:  # written once every object is transformed
                self._env.s3.put_object(Bucket=bucket, Key=key, Body=body)
                self.outputs.append(f"s3://{bucket}/{key}")
            self._finish("Completed", started + timedelta(seconds=seconds))
        except TransformStoppedError:
            self._finish("Stopped", self._env.clock() if self.start else None)
        except TransformFailedError as failure:
            self._finish("Failed", self._env.clock() if self.start else None, reason=str(failure))
        except Exception as error:  # anything else is the container's failure, as AWS reports it
            self._finish("Failed", self._env.clock() if self.start else None,
                         reason=f"AlgorithmError: {type(error).__name__}: {error}")

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise TransformStoppedError()

    def _load_model(self) -> LinearModel:
        try:
            return load_model(self._env.s3, self.model.container, "AllTraffic")
        except ModelArtifactError as error:
            raise TransformFailedError(f"ClientError: {error}") from error

    def _input_keys(self) -> tuple[str, str, list[str]]:
        uri = self.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = parse_s3_uri(uri)
        keys: list[str] = []
        try:
            for page in self._env.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
        except Exception as error:
            raise TransformFailedError(f"ClientError: cannot list {uri}: {type(error).__name__}") from error
        if not keys:
            raise TransformFailedError(f"ClientError: No S3 objects found under S3 URL \"{uri}\"")
        return bucket, prefix, sorted(keys, key=str.encode)

    def _transform_objects(self, served: LinearModel) -> list[tuple[str, str, bytes]]:
        """(bucket, key, body) of every output object, computed in input key order."""
        request = self.request
        transform_input, transform_output = request["TransformInput"], request["TransformOutput"]
        content_type = transform_input.get("ContentType", "")
        accept = transform_output.get("Accept")
        max_bytes = request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB) * 2**20
        single = request.get("BatchStrategy", "MultiRecord") == "SingleRecord"
        out_bucket, out_prefix = parse_s3_uri(transform_output["S3OutputPath"])
        out_prefix = out_prefix.rstrip("/") + "/" if out_prefix else ""
        bucket, prefix, keys = self._input_keys()
        # SageMaker keeps an object's path below the input prefix (a one-key URI keeps its file name).
        base = prefix if prefix.endswith("/") else (prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else "")
        outputs: list[tuple[str, str, bytes]] = []
        for key in keys:
            self._check_stop()
            blob = self._env.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            records = split_records(blob, transform_input.get("SplitType", "None"))
            answers: list[bytes] = []
            for body in mini_batches(records, max_bytes=max_bytes, single_record=single):
                try:
                    answer, _ = invoke(served, content_type, accept, body)
                except ModelContainerError as error:
                    raise TransformFailedError(
                        f"ClientError: the model container answered {error.original_status_code} for "
                        f"s3://{bucket}/{key}: {error.original_message}"
                    ) from error
                answers.append(answer)
            self.rows += len(records)
            outputs.append((out_bucket, f"{out_prefix}{key[len(base):]}.out",
                            assemble(answers, transform_output.get("AssembleWith", "None"))))
        return outputs

    def _finish(self, status: str, end: datetime | None, *, reason: str | None = None) -> None:
        with self._lock:
            self.status = status
            self.end = end
            self.failure_reason = reason
            self.modified = self._env.clock()
        self._env.emit("transform.status", name=self.name, status=status, reason=reason)
