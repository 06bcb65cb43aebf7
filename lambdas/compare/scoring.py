"""Scoring the test set on both endpoints at once, with bounded concurrency and retries.

The producer (the caller's thread) streams batches; each batch is sent to every endpoint on a thread pool.
At most ``batches_in_flight`` batches are held at a time, so memory is the in-flight request bodies plus
one float per row per endpoint (and one label per row).
"""

from __future__ import annotations

import functools
import json
import math
import random
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lambdas.compare.testdata import CsvBatch
from lambdas.lambda_common.aws_errors import error_code, error_text
from lambdas.lambda_common.vocabulary import CSV, JSON

# Codes the runtime uses for transient failures (the sagemaker-runtime model plus the generic throttles).
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalDependencyException",
        "ModelNotReadyException",
    }
)
_CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


class ScoringError(RuntimeError):
    """An endpoint could not score a batch: names the endpoint, the batch and what went wrong."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_seconds: float = 0.25
    max_delay_seconds: float = 8.0

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff before attempt ``attempt + 1``."""
        return random.uniform(0, min(self.max_delay_seconds, self.base_delay_seconds * 2**attempt))


@dataclass
class ScoredTestSet:
    labels: array
    predictions: dict[str, array]  # branch → one score per row, in row order
    batches: int
    largest_request_bytes: int
    requests: dict[str, int] = field(default_factory=dict)  # branch → InvokeEndpoint calls incl. retries

    @property
    def rows(self) -> int:
        return len(self.labels)


def _is_retryable(error: Exception) -> bool:
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    if isinstance(error, ClientError):
        code = error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_CODES or status == 429 or (status >= 500 and code != "ModelError")
    return False


_CANONICAL_HEAD = b'{"predictions": [{"score": '
_CANONICAL_SEPARATOR = b'}, {"score": '
_CANONICAL_TAIL = b"}]}"


def _canonical_scores(body: bytes) -> array | None:
    """Scores of a body in the exact spelling the local container writes, without building one dict per row.

    ``json.loads`` is a third of the client's CPU time on big batches; anything not in this exact spelling
    (other spacing, extra keys, ...) returns None and goes through ``json.loads``.
    """
    text = body.rstrip()
    if not (text.startswith(_CANONICAL_HEAD) and text.endswith(_CANONICAL_TAIL)) or b"_" in text:
        return None
    try:
        return array("d", map(float, text[len(_CANONICAL_HEAD) : -len(_CANONICAL_TAIL)].split(_CANONICAL_SEPARATOR)))
    except ValueError:
        return None


def parse_predictions(body: bytes, rows: int, where: str) -> array:
    """Scores of a ``{"predictions": [{"score": ...}, ...]}`` answer; exactly ``rows`` finite numbers."""
    scores = _canonical_scores(body)
    if scores is None:
        try:
            document = json.loads(body)
            predictions = document["predictions"]
            if not isinstance(predictions, list):
                raise TypeError('"predictions" is not a list')
            values = [item["score"] for item in predictions]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise TypeError("a score is not a number")
            scores = array("d", values)
        except (ValueError, KeyError, TypeError) as error:
            raise ScoringError(
                f'{where}: the response is not {{"predictions": [{{"score": number}}, ...]}} ({error}); '
                f"first bytes: {body[:200]!r}"
            ) from error
    if len(scores) != rows:
        raise ScoringError(f"{where}: {rows} rows were sent but {len(scores)} predictions came back")
    # A NaN or an infinity makes the sum not finite (and so may finite scores that overflow it: then each is checked).
    if not math.isfinite(sum(scores)) and not all(map(math.isfinite, scores)):
        raise ScoringError(f"{where}: the response has a score that is not a finite number")
    return scores


def invoke_batch(
    runtime: Any,
    endpoint_name: str,
    batch: CsvBatch,
    *,
    retry: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    attempts_made: list[int] | None = None,
) -> array:
    """One batch on one endpoint: retry transient failures, fail clearly on anything else."""
    where = f"endpoint {endpoint_name}, batch {batch.index} ({batch.rows} rows)"
    for attempt in range(retry.max_attempts):
        if attempts_made is not None:
            attempts_made.append(1)
        try:
            response = runtime.invoke_endpoint(
                EndpointName=endpoint_name, ContentType=CSV, Accept=JSON, Body=batch.body
            )
            body = response["Body"].read()
        except Exception as error:
            if _is_retryable(error) and attempt + 1 < retry.max_attempts:
                sleep(retry.delay(attempt))
                continue
            tries = f" after {attempt + 1} attempts" if attempt else ""
            raise ScoringError(f"{where}: InvokeEndpoint failed{tries}: {error_text(error)}") from error
        return parse_predictions(body, batch.rows, where)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class _Fanout:
    """Every batch to every endpoint on a pool, at most ``limit`` batches in flight; the first failure stops it.

    Done-callbacks run on the worker threads: they store each answer and free a slot once every endpoint
    answered the batch."""

    def __init__(self, endpoints: Mapping[str, str], limit: int, score: Callable[[str, str, CsvBatch], array]) -> None:
        self.endpoints, self.score = endpoints, score
        self.slots = threading.BoundedSemaphore(limit)  # batches in flight
        self.lock = threading.Lock()
        self.results: dict[str, dict[int, array]] = {branch: {} for branch in endpoints}
        self.remaining: dict[int, int] = {}  # batch index → endpoints that have not answered it yet
        self.failures: list[BaseException] = []
        self.labels = array("d")
        self.order: list[int] = []  # batch indices in row order
        self.largest = 0

    def send_all(self, pool: ThreadPoolExecutor, batches: Iterable[CsvBatch]) -> None:
        futures: list[Future[array]] = []
        try:
            for batch in batches:
                self.slots.acquire()
                if self.failures:
                    self.slots.release()
                    break
                self.labels.extend(batch.labels)
                self.order.append(batch.index)
                self.largest = max(self.largest, len(batch.body))
                with self.lock:
                    self.remaining[batch.index] = len(self.endpoints)
                for branch, endpoint_name in self.endpoints.items():
                    future = pool.submit(self.score, branch, endpoint_name, batch)
                    future.add_done_callback(functools.partial(self.done, batch.index, branch))
                    futures.append(future)
        except BaseException:
            # The data stream failed: do not send what is still queued.
            for future in futures:
                future.cancel()
            raise
        if self.failures:
            for future in futures:
                future.cancel()

    def done(self, batch_index: int, branch: str, future: Future[array]) -> None:
        error = future.exception() if not future.cancelled() else None
        with self.lock:
            if error is not None:
                self.failures.append(error)
            elif not future.cancelled():
                self.results[branch][batch_index] = future.result()
            self.remaining[batch_index] -= 1
            finished = self.remaining[batch_index] == 0
        if finished:
            self.slots.release()

    def predictions(self) -> dict[str, array]:
        """Each branch's scores in row order (the answers are dropped as they are copied)."""
        predictions: dict[str, array] = {}
        for branch in self.endpoints:
            merged = array("d")
            for batch_index in self.order:
                merged.extend(self.results[branch].pop(batch_index))
            predictions[branch] = merged
        return predictions


def score_test_set(
    runtime: Any,
    endpoints: Mapping[str, str],
    batches: Iterable[CsvBatch],
    *,
    concurrency_per_endpoint: int = 4,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_scored: Callable[[str, CsvBatch, array], None] | None = None,
) -> ScoredTestSet:
    """Send every batch to every endpoint (``endpoints`` maps a branch such as "sharded" to an endpoint name).

    ``on_scored(branch, batch, predictions)`` runs on the worker thread as each batch comes back from each
    endpoint (the metrics start on the rows while other batches are scored); if it raises, scoring fails.
    """
    if concurrency_per_endpoint < 1:
        raise ValueError("concurrency_per_endpoint must be at least 1")
    policy = retry or RetryPolicy()
    attempts: dict[str, list[int]] = {branch: [] for branch in endpoints}

    def score(branch: str, endpoint_name: str, batch: CsvBatch) -> array:
        predictions = invoke_batch(
            runtime, endpoint_name, batch, retry=policy, sleep=sleep, attempts_made=attempts[branch]
        )
        if on_scored is not None:
            on_scored(branch, batch, predictions)
        return predictions

    fanout = _Fanout(endpoints, concurrency_per_endpoint, score)
    with ThreadPoolExecutor(max_workers=concurrency_per_endpoint * len(endpoints), thread_name_prefix="invoke") as pool:
        fanout.send_all(pool, batches)
    if fanout.failures:
        raise fanout.failures[0]
    return ScoredTestSet(
        labels=fanout.labels,
        predictions=fanout.predictions(),
        batches=len(fanout.order),
        largest_request_bytes=fanout.largest,
        requests={branch: len(calls) for branch, calls in attempts.items()},
    )
