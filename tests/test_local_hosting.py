"""local.hosting: the endpoint registry and what the local Linear Learner container answers."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from lambdas.lambda_common import recordio
from local.errors import SageMakerApiError
from local.hosting import EndpointRegistry, ModelContainerError, invoke
from local.linear_model import LinearModel

MODEL = LinearModel(weights=np.array([0.5, -2.0, 1.25]), bias=0.75)
ROWS = np.array([[1.0, 2.0, 3.0], [0.1, -4.5, 1e-3]], dtype=np.float32)


def expected_scores() -> list[float]:
    return (ROWS.astype(np.float64) @ MODEL.weights + MODEL.bias).tolist()


def scores_of(body: bytes) -> list[float]:
    return [item["score"] for item in json.loads(body)["predictions"]]


def test_csv_in_json_out() -> None:
    body = "\n".join(",".join(f"{v:.9g}" for v in row) for row in ROWS.tolist()).encode()
    answer, content_type = invoke(MODEL, "text/csv", None, body)
    assert content_type == "application/json"
    assert scores_of(answer) == expected_scores()


def test_csv_with_label_size_zero_and_trailing_newline() -> None:
    answer, _ = invoke(MODEL, "text/csv; label_size=0", "application/json", b"1,2,3\n")
    assert scores_of(answer) == pytest.approx([0.5 - 4 + 3.75 + 0.75])


def test_csv_round_trips_float32_exactly_with_9_significant_digits() -> None:
    rng = np.random.default_rng(7)
    rows = rng.normal(scale=100, size=(50, 3)).astype(np.float32)
    body = "\n".join(",".join(f"{v:.9g}" for v in row) for row in rows.tolist()).encode()
    answer, _ = invoke(MODEL, "text/csv", None, body)
    assert scores_of(answer) == MODEL.predict(rows).tolist()


@pytest.mark.parametrize(
    "document",
    [
        {"instances": [{"features": row} for row in ROWS.tolist()]},
        {"instances": [{"data": {"features": {"values": row}}} for row in ROWS.tolist()]},
    ],
)
def test_json_in_both_documented_shapes(document: dict[str, object]) -> None:
    answer, _ = invoke(MODEL, "application/json", None, json.dumps(document).encode())
    assert scores_of(answer) == expected_scores()


def test_recordio_in() -> None:
    body = b"".join(recordio.encode_record(row) for row in ROWS.tolist())
    answer, _ = invoke(MODEL, "application/x-recordio-protobuf", None, body)
    assert scores_of(answer) == expected_scores()


def test_jsonlines_out_when_accept_asks() -> None:
    answer, content_type = invoke(MODEL, "text/csv", "application/jsonlines", b"1,2,3\n0,0,0")
    assert content_type == "application/jsonlines"
    assert [json.loads(line)["score"] for line in answer.decode().splitlines()] == [0.5 - 4 + 3.75 + 0.75, 0.75]


@pytest.mark.parametrize(
    ("content_type", "accept", "body", "status", "fragment"),
    [
        ("text/csv", None, b"1,2\n3,4", 400, "feature size 2"),
        ("text/csv", None, b"1,2,x", 400, "Unable to evaluate payload"),
        ("text/csv", None, b"1,2,3\n4,5", 400, "finite"),
        ("text/csv", None, b"", 400, "empty"),
        ("text/csv; label_size=1", None, b"1,2,3", 400, "label_size=0"),
        ("application/json", None, b"{not json", 400, "Unable to evaluate payload"),
        ("application/json", None, b'{"instances": [{"x": 1}]}', 400, "each instance"),
        ("application/x-recordio-protobuf", None, struct.pack("<II", 1, 0), 400, "magic"),
        ("image/png", None, b"1,2,3", 415, "image/png"),
        ("text/csv", "text/csv", b"1,2,3", 406, "Accept"),
    ],
)
def test_bad_payloads_are_container_errors(
    content_type: str, accept: str | None, body: bytes, status: int, fragment: str
) -> None:
    with pytest.raises(ModelContainerError) as raised:
        invoke(MODEL, content_type, accept, body)
    assert raised.value.original_status_code == status
    assert raised.value.code == "ModelError"
    assert raised.value.status_code == 424
    assert fragment in raised.value.original_message


def test_registry_register_get_unregister() -> None:
    registry = EndpointRegistry(account_id="111122223333")
    registry.register("b-endpoint", MODEL)
    registry.register("a-endpoint", MODEL)
    assert registry.get("a-endpoint") is MODEL
    assert registry.names() == ["a-endpoint", "b-endpoint"]
    registry.unregister("a-endpoint")
    registry.unregister("never-registered")
    with pytest.raises(SageMakerApiError) as raised:
        registry.get("a-endpoint")
    assert (raised.value.code, raised.value.status_code) == ("ValidationError", 400)
    assert raised.value.message == "Endpoint a-endpoint of account 111122223333 not found."
