"""lambdas.compare.scoring: bounded concurrency on both endpoints, retries with backoff, clear failures."""

from __future__ import annotations

import io
import json
import random
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from lambdas.compare.scoring import RetryPolicy, ScoringError, parse_predictions, score_test_set
from lambdas.compare.testdata import CsvBatch

ENDPOINTS = {"replicated": "ep-replicated", "sharded": "ep-sharded"}
NO_WAIT = RetryPolicy(max_attempts=4, base_delay_seconds=0.0)


def make_batches(count: int, rows: int = 3) -> list[CsvBatch]:
    """Batch i holds rows whose single feature is its global row number."""
    return [
        CsvBatch(
            i,
            "\n".join(str(i * rows + r) for r in range(rows)).encode(),
            array("d", [float(i * rows + r) for r in range(rows)]),
        )
        for i in range(count)
    ]


def client_error(code: str, status: int, message: str = "boom") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "InvokeEndpoint",
    )


class FakeRuntime:
    """Scores a row as feature * 2 (+1 on the sharded endpoint); failures are scripted per call."""

    def __init__(self, script: Callable[[str, int, int], Exception | bytes | None] | None = None) -> None:
        self.script = script
        self.lock = threading.Lock()
        self.calls: list[tuple[str, int]] = []
        self.in_flight: dict[str, int] = {"ep-replicated": 0, "ep-sharded": 0}
        self.max_in_flight: dict[str, int] = {"ep-replicated": 0, "ep-sharded": 0}
        self.max_total = 0
        self.overlapped = False
        self.delay = 0.0

    def invoke_endpoint(self, *, EndpointName: str, ContentType: str, Accept: str, Body: bytes) -> dict[str, Any]:
        assert (ContentType, Accept) == ("text/csv", "application/json")
        rows = [float(line) for line in Body.decode().split("\n")]
        batch_index = int(rows[0]) // len(rows)
        with self.lock:
            attempt = sum(1 for call in self.calls if call == (EndpointName, batch_index))
            self.calls.append((EndpointName, batch_index))
            self.in_flight[EndpointName] += 1
            self.max_in_flight[EndpointName] = max(self.max_in_flight[EndpointName], self.in_flight[EndpointName])
            self.max_total = max(self.max_total, sum(self.in_flight.values()))
            self.overlapped |= all(self.in_flight.values())
        try:
            time.sleep(self.delay * random.random())
            scripted = self.script(EndpointName, batch_index, attempt) if self.script else None
            if isinstance(scripted, Exception):
                raise scripted
            offset = 1.0 if EndpointName == "ep-sharded" else 0.0
            body = scripted or json.dumps({"predictions": [{"score": 2 * r + offset} for r in rows]}).encode()
            return {"Body": io.BytesIO(body)}
        finally:
            with self.lock:
                self.in_flight[EndpointName] -= 1


def test_every_row_scored_on_both_endpoints_in_row_order() -> None:
    runtime = FakeRuntime()
    runtime.delay = 0.004  # responses complete out of order
    scored = score_test_set(runtime, ENDPOINTS, make_batches(30), concurrency_per_endpoint=4, retry=NO_WAIT)
    assert scored.rows == 90
    assert scored.batches == 30
    assert list(scored.labels) == [float(r) for r in range(90)]
    assert list(scored.predictions["replicated"]) == [2.0 * r for r in range(90)]
    assert list(scored.predictions["sharded"]) == [2.0 * r + 1 for r in range(90)]
    assert scored.requests == {"replicated": 30, "sharded": 30}


def test_concurrency_is_bounded_and_both_endpoints_overlap() -> None:
    runtime = FakeRuntime()
    runtime.delay = 0.01
    score_test_set(runtime, ENDPOINTS, make_batches(24), concurrency_per_endpoint=3, retry=NO_WAIT)
    assert runtime.overlapped
    assert 1 < max(runtime.max_in_flight.values()) <= 3
    assert runtime.max_total <= 6


def test_batches_are_pulled_lazily() -> None:
    produced: list[int] = []
    runtime = FakeRuntime()
    runtime.delay = 0.002

    def stream() -> Iterator[CsvBatch]:
        for batch in make_batches(20):
            produced.append(batch.index)
            # never more than `concurrency` batches ahead of the slowest finished one
            assert len(produced) - len({i for _, i in runtime.calls}) <= 2 + 1
            yield batch

    score_test_set(runtime, ENDPOINTS, stream(), concurrency_per_endpoint=2, retry=NO_WAIT)
    assert produced == list(range(20))


@pytest.mark.parametrize(
    "transient",
    [
        client_error("ThrottlingException", 400),
        client_error("ServiceUnavailable", 503),
        client_error("InternalFailure", 500),
        client_error("ModelNotReadyException", 429),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_transient_failures_are_retried_with_backoff(transient: Exception) -> None:
    sleeps: list[float] = []

    def script(endpoint: str, batch: int, attempt: int) -> Exception | None:
        return transient if endpoint == "ep-sharded" and batch == 1 and attempt < 2 else None

    runtime = FakeRuntime(script)
    policy = RetryPolicy(max_attempts=4, base_delay_seconds=0.5, max_delay_seconds=0.75)
    scored = score_test_set(runtime, ENDPOINTS, make_batches(3), retry=policy, sleep=sleeps.append)
    assert list(scored.predictions["sharded"]) == [2.0 * r + 1 for r in range(9)]
    assert scored.requests == {"replicated": 3, "sharded": 5}
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 0.75


def test_persistent_throttling_fails_naming_endpoint_batch_and_message() -> None:
    runtime = FakeRuntime(
        lambda endpoint, batch, attempt: (
            client_error("ThrottlingException", 400, "Rate exceeded")
            if endpoint == "ep-replicated" and batch == 2
            else None
        )
    )
    with pytest.raises(ScoringError) as raised:
        score_test_set(runtime, ENDPOINTS, make_batches(5), retry=NO_WAIT, sleep=lambda _: None)
    assert str(raised.value) == (
        "endpoint ep-replicated, batch 2 (3 rows): InvokeEndpoint failed after 4 attempts: "
        "ThrottlingException: Rate exceeded"
    )


def test_model_error_is_not_retried() -> None:
    runtime = FakeRuntime(lambda endpoint, batch, attempt: client_error("ModelError", 424, "Received client error"))
    with pytest.raises(ScoringError, match=r"batch \d \(3 rows\): InvokeEndpoint failed: ModelError: Received"):
        score_test_set(runtime, ENDPOINTS, make_batches(4), retry=NO_WAIT, concurrency_per_endpoint=1)
    assert all(count == 1 for count in [runtime.calls.count(call) for call in runtime.calls])


def test_a_failure_stops_sending_new_batches() -> None:
    runtime = FakeRuntime(lambda endpoint, batch, attempt: client_error("ValidationError", 400, "nope"))
    with pytest.raises(ScoringError):
        score_test_set(runtime, ENDPOINTS, make_batches(200), retry=NO_WAIT, concurrency_per_endpoint=2)
    assert len(runtime.calls) < 20


def test_stream_errors_propagate() -> None:
    def stream() -> Iterator[CsvBatch]:
        yield from make_batches(2)
        raise ValueError("the test object is corrupt")

    with pytest.raises(ValueError, match="corrupt"):
        score_test_set(FakeRuntime(), ENDPOINTS, stream(), retry=NO_WAIT)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"predictions": [{"score": 1}, {"score": 2}]}', "3 rows were sent but 2 predictions came back"),
        (b"<html>", 'the response is not {"predictions"'),
        (b'{"predictions": {"score": 1}}', '"predictions" is not a list'),
        (b'{"predictions": [{"scores": 1}, {"score": 2}, {"score": 3}]}', "'score'"),
        (b'{"predictions": [{"score": "x"}, {"score": 2}, {"score": 3}]}', "a score is not a number"),
        (b'{"predictions": [{"score": NaN}, {"score": 2}, {"score": 3}]}', "not a finite number"),
        (b'{"predictions": [{"score": 1}, {"score": Infinity}, {"score": 3}]}', "not a finite number"),
        (b'{"predictions": [{"score": 1}, {"score": inf}, {"score": -inf}]}', "not a finite number"),
        (b'{"predictions": [{"score": 1e308}, {"score": 1e308}, {"score": -inf}]}', "not a finite number"),
    ],
)
def test_bad_responses_fail_naming_endpoint_and_batch(body: bytes, fragment: str) -> None:
    runtime = FakeRuntime(lambda endpoint, batch, attempt: body if endpoint == "ep-sharded" and batch == 1 else None)
    with pytest.raises(ScoringError) as raised:
        score_test_set(runtime, ENDPOINTS, make_batches(3), retry=NO_WAIT)
    assert str(raised.value).startswith("endpoint ep-sharded, batch 1 (3 rows): ")
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [
        b'{"predictions": [{"score": 1.5}, {"score": -2}]}',  # the local container's spelling (fast path)
        b'{"predictions":[{"score":1.5},{"score":-2}]}\n',  # compact: json.loads
        b'{"predictions": [{"score": 1.5, "label": 1}, {"score": -2}]}',  # extra keys: json.loads
        b'{"predictions": [{"score": 1.5}, {"score": -2e0}]}',
    ],
)
def test_parse_predictions_spellings(body: bytes) -> None:
    assert list(parse_predictions(body, 2, "here")) == [1.5, -2.0]


def test_finite_scores_whose_sum_overflows_are_accepted() -> None:
    assert list(parse_predictions(b'{"predictions": [{"score": 1e308}, {"score": 1e308}]}', 2, "here")) == [1e308] * 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"predictions": [{"score": nan}, {"score": 1}]}',
        b'{"predictions": [{"score": 1_0}, {"score": 1}]}',
        b'{"predictions": [{"score": "1"}, {"score": 1}]}',
    ],
)
def test_parse_predictions_refuses_what_json_would_not_give_as_numbers(body: bytes) -> None:
    with pytest.raises(ScoringError, match=r"^here: "):
        parse_predictions(body, 2, "here")


def test_on_scored_sees_every_batch_of_every_endpoint_with_its_predictions() -> None:
    seen: list[tuple[str, int, list[float], list[float]]] = []
    lock = threading.Lock()

    def on_scored(key: str, batch: CsvBatch, predictions: array) -> None:
        assert threading.current_thread() is not threading.main_thread()  # on the workers, while others score
        with lock:
            seen.append((key, batch.index, list(batch.labels), list(predictions)))

    runtime = FakeRuntime()
    score_test_set(runtime, ENDPOINTS, make_batches(7), retry=NO_WAIT, on_scored=on_scored)
    assert sorted((key, index) for key, index, _, _ in seen) == sorted((k, i) for k in ENDPOINTS for i in range(7))
    for key, _index, labels, predictions in seen:
        assert predictions == [2 * label + (1.0 if key == "sharded" else 0.0) for label in labels]


def test_a_failing_on_scored_fails_the_scoring() -> None:
    def on_scored(key: str, batch: CsvBatch, predictions: array) -> None:
        if batch.index == 2:
            raise ValueError("cannot use batch 2")

    with pytest.raises(ValueError, match="cannot use batch 2"):
        score_test_set(FakeRuntime(), ENDPOINTS, make_batches(5), retry=NO_WAIT, on_scored=on_scored)
