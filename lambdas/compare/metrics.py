"""Regression metrics in plain Python (the Lambda has no numpy); sums are exact (``math.fsum``).

Everything runs over C iterators (``map`` with ``operator`` and float methods, ``sorted``): a Python
expression per row would cost as much as the rest of the Lambda. Every metric is a function of the sorted
absolute errors (|e|² = e², and exact sums do not depend on the order), and sorting is most of the work, so
while the endpoints score, ``SortedRuns`` sorts each batch's absolute errors as it comes back; at the end one
``sorted`` only merges those runs. What depends on the labels alone (R²'s denominator) is computed once.
"""

from __future__ import annotations

import itertools
import math
import operator
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSpread:
    """What the metrics of every model on one set of labels share."""

    rows: int
    total_sum_of_squares: float  # Σ(y - ȳ)²: R²'s denominator

    @classmethod
    def of(cls, labels: Sequence[float]) -> LabelSpread:
        rows = len(labels)
        if rows == 0:
            raise ValueError("no rows to compute metrics on")
        mean_label = math.fsum(labels) / rows
        centered = list(map(mean_label.__rsub__, labels))  # y - ȳ
        return cls(rows, math.fsum(map(operator.mul, centered, centered)))


class SortedRuns:
    """Values added batch by batch, in any order and from any thread; each batch is sorted as it is added.

    ``merged()`` is every value in order; timsort finds the sorted runs and only merges them, a fraction of
    the cost of sorting everything at the end.
    """

    def __init__(self) -> None:
        self._runs: dict[int, array] = {}
        self._lock = threading.Lock()

    def add(self, batch_index: int, values: Iterable[float]) -> None:
        run = array("d", sorted(values))
        with self._lock:
            if batch_index in self._runs:
                raise ValueError(f"batch {batch_index} was added twice")
            self._runs[batch_index] = run

    def __len__(self) -> int:
        with self._lock:
            return sum(map(len, self._runs.values()))

    def merged(self) -> list[float]:
        with self._lock:
            runs = list(self._runs.values())
        return sorted(itertools.chain.from_iterable(runs))


class ConstantPredictionErrors:
    """Sorted runs of |y - c| for the naive baseline, whose prediction c (the training label mean) may only be
    known after the first batches are scored: until then the labels wait, and are added at ``merged``."""

    def __init__(self) -> None:
        self._runs = SortedRuns()
        self._waiting: list[tuple[int, Sequence[float]]] = []
        self._prediction: float | None = None
        self._lock = threading.Lock()

    def _use(self, prediction: float) -> float:
        with self._lock:
            if self._prediction is None:
                self._prediction = float(prediction)
            elif self._prediction != prediction:
                raise ValueError(f"the constant prediction changed from {self._prediction} to {prediction}")
            return self._prediction

    def add(self, batch_index: int, labels: Sequence[float], prediction: float | None) -> None:
        if prediction is None:
            with self._lock:
                self._waiting.append((batch_index, labels))
            return
        constant = self._use(prediction)
        self._runs.add(batch_index, map(abs, map(constant.__rsub__, labels)))  # |y - c|

    def merged(self, prediction: float) -> list[float]:
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for batch_index, labels in waiting:
            self.add(batch_index, labels, prediction)
        self._use(prediction)
        return self._runs.merged()


def absolute_errors(labels: Sequence[float], predictions: Sequence[float]) -> Iterator[float]:
    """|y - p| per row (lazily)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    return map(abs, map(operator.sub, labels, predictions))


def metrics_of_sorted_absolute_errors(absolute: Sequence[float], spread: LabelSpread) -> dict[str, float | None]:
    """The metrics from the absolute errors in ascending order (``spread`` is of the same rows' labels)."""
    rows = len(absolute)
    if rows == 0:
        raise ValueError("no rows to compute metrics on")
    if spread.rows != rows:
        raise ValueError(f"{rows} errors but the label spread is of {spread.rows} labels")
    squared = math.fsum(map(operator.mul, absolute, absolute))
    mse = squared / rows
    middle = rows // 2
    total = spread.total_sum_of_squares
    return {
        "rows": rows,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": math.fsum(absolute) / rows,
        "medianAbsoluteError": absolute[middle] if rows % 2 else (absolute[middle - 1] + absolute[middle]) / 2,
        # R² is undefined when every label is the same: null (JSON has no NaN).
        "r2": 1.0 - squared / total if total > 0 else None,
    }


def regression_metrics(
    labels: Sequence[float], predictions: Sequence[float], spread: LabelSpread | None = None
) -> dict[str, float | None]:
    """MSE (the seed notebook's metric), RMSE, MAE, median absolute error and R² of predictions vs labels."""
    if len(labels) == 0:
        raise ValueError("no rows to compute metrics on")
    absolute = sorted(absolute_errors(labels, predictions))
    return metrics_of_sorted_absolute_errors(absolute, spread or LabelSpread.of(labels))


def constant_prediction_metrics(
    labels: Sequence[float], prediction: float, spread: LabelSpread | None = None
) -> dict[str, float | None]:
    """``regression_metrics`` of a model that predicts ``prediction`` for every row (the naive baseline)."""
    if len(labels) == 0:
        raise ValueError("no rows to compute metrics on")
    absolute = sorted(map(abs, map(float(prediction).__rsub__, labels)))  # |y - prediction|
    return metrics_of_sorted_absolute_errors(absolute, spread or LabelSpread.of(labels))
