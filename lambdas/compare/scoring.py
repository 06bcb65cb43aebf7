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

from compare.testdata import CsvBatch
from lambda_common.vocabulary import CSV, JSON

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
    predictions: dict[str, array]  # endpoint key ("replicated"/"sharded") → one score per row, in row order
    batches: int
    largest_request_bytes: int
    requests: dict[str, int] = field(default_factory=dict)  # endpoint key → InvokeEndpoint calls incl. retries

    @property
    def rows(self) -> int:
        return len(self.labels)


def _is_retryable(error: Exception) -> bool:
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_CODES or status == 429 or (status >= 500 and code != "ModelError")
    return False


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}"
    return f"{type(error).__name__}: {error}"


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
    if not all(map(math.isfinite, scores)):
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
            raise ScoringError(f"{where}: InvokeEndpoint failed{tries}: {_describe(error)}") from error
        return parse_predictions(body, batch.rows, where)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


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
    """Send every batch to every endpoint (``endpoints`` maps a key such as "sharded" to an endpoint name).

    ``on_scored(key, batch, predictions)`` runs on the worker thread as each batch comes back from each
    endpoint (the metrics start on the rows while other batches are scored); if it raises, scoring fails.
    """
    if concurrency_per_endpoint < 1:
        raise ValueError("concurrency_per_endpoint must be at least 1")
    retry = retry or RetryPolicy()
    slots = threading.BoundedSemaphore(concurrency_per_endpoint)  # batches in flight
    lock = threading.Lock()
    results: dict[str, dict[int, array]] = {key: {} for key in endpoints}
    attempts: dict[str, list[int]] = {key: [] for key in endpoints}
    remaining: dict[int, int] = {}
    failures: list[BaseException] = []
    labels = array("d")
    order: list[int] = []  # batch indices in row order
    largest = 0

    def score(key: str, endpoint_name: str, batch: CsvBatch) -> array:
        predictions = invoke_batch(runtime, endpoint_name, batch, retry=retry, sleep=sleep, attempts_made=attempts[key])
        if on_scored is not None:
            on_scored(key, batch, predictions)
        return predictions

    def done(batch_index: int, key: str, future: Future[array]) -> None:
        error = future.exception() if not future.cancelled() else None
        with lock:
            if error is not None:
                failures.append(error)
            elif not future.cancelled():
                results[key][batch_index] = future.result()
            remaining[batch_index] -= 1
            finished = remaining[batch_index] == 0
        if finished:
            slots.release()

    with ThreadPoolExecutor(max_workers=concurrency_per_endpoint * len(endpoints), thread_name_prefix="invoke") as pool:
        futures: list[Future[array]] = []
        try:
            for batch in batches:
                slots.acquire()
                if failures:
                    slots.release()
                    break
                labels.extend(batch.labels)
                order.append(batch.index)
                largest = max(largest, len(batch.body))
                with lock:
                    remaining[batch.index] = len(endpoints)
                for key, endpoint_name in endpoints.items():
                    future = pool.submit(score, key, endpoint_name, batch)
                    future.add_done_callback(functools.partial(done, batch.index, key))
                    futures.append(future)
        except BaseException:
            # The data stream failed: do not send what is still queued.
            for future in futures:
                future.cancel()
            raise
        if failures:
            for future in futures:
                future.cancel()
    if failures:
        raise failures[0]
    predictions: dict[str, array] = {}
    for key in endpoints:
        merged = array("d")
        for batch_index in order:
            merged.extend(results[key].pop(batch_index))
        predictions[key] = merged
    return ScoredTestSet(
        labels=labels,
        predictions=predictions,
        batches=len(order),
        largest_request_bytes=largest,
        requests={key: len(calls) for key, calls in attempts.items()},
    )
