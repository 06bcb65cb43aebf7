"""Local mode's hosting: which endpoint serves which model, and what a Linear Learner container answers.

``invoke`` plays the inference container: it accepts the content types Linear Learner documents for
regression (``text/csv``, ``application/json`` in both documented shapes
(dense or sparse, ``keys``/``shape``), ``application/x-recordio-protobuf``) and answers ``application/json``
(``{"predictions": [{"score": ...}]}``), ``application/jsonlines`` or ``application/x-recordio-protobuf`` (one
record per row, ``label["score"]``), the response formats Linear Learner documents; other Accept types get 406.
A payload the container cannot use raises ``ModelContainerError``; the HTTP server turns it into the
runtime's ``ModelError`` (424), as SageMaker does with a container's 4xx/5xx answer.
"""

from __future__ import annotations

import fnmatch
import io
import json
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lambdas.lambda_common import recordio
from lambdas.lambda_common.vocabulary import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF
from local.errors import SageMakerApiError
from local.fake_aws import ACCOUNT_ID, REGION
from local.linear_model import LinearModel
from local.recordio_np import read_dense


class ModelContainerError(SageMakerApiError):
    """The container refused the request; ``original_status_code`` is the status the container answered."""

    def __init__(self, original_status_code: int, original_message: str) -> None:
        super().__init__("ModelError", original_message, 424)
        self.original_status_code = original_status_code
        self.original_message = original_message


class EndpointRegistry:
    """Endpoint name → the model it serves. Thread-safe: the HTTP server reads it from request threads."""

    def __init__(
        self,
        *,
        account_id: str = ACCOUNT_ID,
        region: str = REGION,
        invocation_failures: Mapping[str, str] | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        # Injected faults (tests): endpoint name pattern -> the message its container fails every request with.
        self.invocation_failures = dict(invocation_failures or {})
        self._models: dict[str, LinearModel] = {}
        self._lock = threading.Lock()

    def register(self, endpoint_name: str, model: LinearModel) -> None:
        with self._lock:
            self._models[endpoint_name] = model

    def unregister(self, endpoint_name: str) -> None:
        with self._lock:
            self._models.pop(endpoint_name, None)

    def get(self, endpoint_name: str) -> LinearModel:
        with self._lock:
            model = self._models.get(endpoint_name)
        if model is None:
            # The runtime's exact wording for an endpoint that does not exist (or is not InService).
            raise SageMakerApiError(
                "ValidationError", f"Endpoint {endpoint_name} of account {self.account_id} not found.", 400
            )
        for pattern, message in self.invocation_failures.items():
            if fnmatch.fnmatchcase(endpoint_name, pattern):
                raise ModelContainerError(500, message)
        return model

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)


def _media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``"text/csv; label_size=0"`` → ``("text/csv", {"label_size": "0"})``."""
    if not header:
        return "", {}
    main, *params = header.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, _, value = param.partition("=")
        parsed[key.strip().lower()] = value.strip()
    return main.strip().lower(), parsed


def _parse_csv(body: bytes, params: dict[str, str]) -> np.ndarray:
    if params.get("label_size", "0") != "0":
        raise ModelContainerError(400, "Unable to evaluate payload provided: inference CSV must have label_size=0")
    if not body.strip():
        raise ModelContainerError(400, "Unable to evaluate payload provided: empty CSV payload")
    try:
        # pandas' C parser: the container parses CSV to float32 too, so %.9g text gives back the same floats.
        frame = pd.read_csv(io.BytesIO(body), header=None, dtype=np.float32, skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError) as error:
        raise ModelContainerError(400, f"Unable to evaluate payload provided: {error}") from error
    return frame.to_numpy(dtype=np.float32)


def _sparse_features(features: dict[str, Any]) -> list[float]:
    """``{"keys": [...], "shape": [n], "values": [...]}``: a row of n features, zero where no key names one."""
    shape, keys, values = features.get("shape"), features["keys"], features["values"]
    if not (isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], int) and shape[0] > 0):
        raise ValueError(f'a sparse instance needs "shape": [<feature count>]; got {shape!r}')
    if not isinstance(keys, list) or not isinstance(values, list) or len(keys) != len(values):
        raise ValueError('a sparse instance needs "keys" and "values" lists of the same length')
    row = [0.0] * shape[0]
    for key, value in zip(keys, values, strict=True):
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < shape[0]:
            raise ValueError(f"sparse key {key!r} is not an index below the shape {shape[0]}")
        row[key] = value
    return row


def _instance_features(instance: Any) -> list[float]:
    if isinstance(instance, dict) and "features" in instance:
        return list(instance["features"])
    if isinstance(instance, dict) and isinstance(instance.get("data"), dict):
        features = instance["data"].get("features")
        if isinstance(features, dict) and "values" in features:
            if "keys" in features:
                return _sparse_features(features)
            return list(features["values"])
    raise ValueError(
        'each instance must be {"features": [...]} or {"data": {"features": {"values": [...]}}} '
        '(with "keys" and "shape" when sparse)'
    )


def _parse_json(body: bytes) -> np.ndarray:
    try:
        document = json.loads(body)
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise ValueError('"instances" must be a non-empty list')
        rows = [_instance_features(instance) for instance in instances]
        if len({len(row) for row in rows}) > 1:
            raise ValueError("instances have different numbers of features")
        return np.asarray(rows, dtype=np.float32)
    except (ValueError, KeyError, TypeError) as error:
        raise ModelContainerError(400, f"Unable to evaluate payload provided: {error}") from error


def _parse_recordio(body: bytes) -> np.ndarray:
    try:
        features, _labels = read_dense(body)  # dense records; a batch transform sends thousands at once
        if not len(features):
            raise ValueError("no records in the payload")
        return features
    except (ValueError, recordio.RecordIOError) as error:
        raise ModelContainerError(400, f"Unable to evaluate payload provided: {error}") from error


def _scores_json(scores: list[float]) -> bytes:
    # float repr is what json.dumps writes; joining map(repr) runs in C, several times faster for big batches.
    if not scores:
        return b'{"predictions": []}'
    return ('{"predictions": [{"score": ' + '}, {"score": '.join(map(repr, scores)) + "}]}").encode()


def _scores_jsonlines(scores: list[float]) -> bytes:
    return "".join(['{"score": ' + line + "}\n" for line in map(repr, scores)]).encode()


def _scores_recordio(scores: list[float]) -> bytes:
    """One record per score, ``label["score"].float32_tensor.values == [score]``, as Linear Learner answers."""
    return b"".join(recordio.encode_label_record("score", [score]) for score in scores)


def invoke(model: LinearModel, content_type: str, accept: str | None, body: bytes) -> tuple[bytes, str]:  # noqa: C901 -- one branch per content type
    """What the Linear Learner container answers to one invocation: (response body, response content type)."""
    media_type, params = _media_type(content_type)
    if media_type == CSV:
        features = _parse_csv(body, params)
    elif media_type == JSON:
        features = _parse_json(body)
    elif media_type == RECORDIO_PROTOBUF:
        features = _parse_recordio(body)
    else:
        raise ModelContainerError(
            415, f"Content type {content_type!r} is not supported; use {CSV}, {JSON} or {RECORDIO_PROTOBUF}"
        )
    if features.ndim != 2 or features.shape[1] != model.feature_dim:
        width = features.shape[1] if features.ndim == 2 else 0
        raise ModelContainerError(
            400,
            f"Unable to evaluate payload provided: feature size {width} of the inference data is not "
            f"consistent with the feature size {model.feature_dim} of the trained model",
        )
    if not np.isfinite(features).all():
        raise ModelContainerError(400, "Unable to evaluate payload provided: features must be finite numbers")
    predicted = model.predict(features)
    if not np.isfinite(predicted).all():
        raise ModelContainerError(500, "the model produced a score that is not a finite number")
    scores = predicted.tolist()
    accept_types = [_media_type(part)[0] for part in (accept or JSON).split(",")]
    for accept_type in accept_types:
        if accept_type in (JSON, "*/*", "application/*"):
            return _scores_json(scores), JSON
        if accept_type == JSONLINES:
            return _scores_jsonlines(scores), JSONLINES
        if accept_type == RECORDIO_PROTOBUF:
            return _scores_recordio(scores), RECORDIO_PROTOBUF
    raise ModelContainerError(
        406, f"Accept {accept!r} is not supported; use {JSON}, {JSONLINES} or {RECORDIO_PROTOBUF}"
    )
