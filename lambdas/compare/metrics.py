"""Regression metrics in plain Python (the Lambda has no numpy); sums are exact (``math.fsum``).

Everything runs over C iterators (``map`` with ``operator`` functions, ``sorted``): a Python
expression per row would cost as much as the rest of the Lambda. Every metric is a function of the sorted
absolute errors (|e|² = e², and exact sums do not depend on the order), and sorting is most of the work, so
while the endpoints score, ``SortedRuns`` sorts each batch's absolute errors as it comes back. The runs are
never merged: the sums run over them in any order, and an order statistic (the median, a histogram's
quantile and bin counts) is found by bisecting every run (``kth``, ``count_below``), which is exact and
costs microseconds where a merge of every row cost a tenth of a second. What depends on the labels alone
(R²'s denominator) is computed once.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import struct
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

_DOUBLE = struct.Struct("<d")
_BITS = struct.Struct("<Q")
_SIGN = 1 << 63


def _order_key(value: float) -> int:
    """An integer that orders like ``value`` for every float but NaN (bit pattern, negatives folded below 0)."""
    bits: int = _BITS.unpack(_DOUBLE.pack(value))[0]
    return bits if bits < _SIGN else _SIGN - 1 - bits


def _from_order_key(key: int) -> float:
    value: float = _DOUBLE.unpack(_BITS.pack(key if key >= 0 else _SIGN - 1 - key))[0]
    return value


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
        centered = list(map(operator.sub, labels, itertools.repeat(mean_label)))  # y - ȳ
        return cls(rows, math.fsum(map(operator.mul, centered, centered)))


class SortedRuns:
    """Values added batch by batch, in any order and from any thread; each batch is sorted as it is added.

    ``kth``, ``count_below`` and ``values`` answer what the metrics and the chart ask without merging the runs;
    ``merged()`` is every value in order.
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
        return sorted(self.values())

    def _sorted_runs(self) -> list[array]:
        with self._lock:
            return [run for run in self._runs.values() if run]

    def values(self) -> Iterator[float]:
        """Every value, run after run (not in order: for sums, which do not depend on it)."""
        return itertools.chain.from_iterable(self._sorted_runs())

    def count_below(self, value: float) -> int:
        """How many values are < ``value``."""
        return sum(map(bisect.bisect_left, self._sorted_runs(), itertools.repeat(value)))

    def kth(self, index: int) -> float:
        """The value at ``index`` (from 0) of the values in ascending order, as ``merged()[index]``.

        Bisects the floats (by their order key) for the least value with more than ``index`` values at or below
        it: about 64 steps of one bisect per run."""
        runs = self._sorted_runs()
        total = sum(map(len, runs))
        if not 0 <= index < total:
            raise IndexError(f"index {index} out of range for {total} values")
        low, high = _order_key(min(run[0] for run in runs)), _order_key(max(run[-1] for run in runs))
        while low < high:
            middle = (low + high) // 2
            at_or_below = sum(map(bisect.bisect_right, runs, itertools.repeat(_from_order_key(middle))))
            if at_or_below > index:
                high = middle
            else:
                low = middle + 1
        return _from_order_key(low)


class SortedValues:
    """A sorted sequence behind ``SortedRuns``' order-statistic methods."""

    def __init__(self, values: Sequence[float]) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def values(self) -> Iterator[float]:
        return iter(self._values)

    def count_below(self, value: float) -> int:
        return bisect.bisect_left(self._values, value)

    def kth(self, index: int) -> float:
        return self._values[index]


OrderedValues = SortedRuns | SortedValues


def ordered(values: OrderedValues | Sequence[float]) -> OrderedValues:
    """``values`` as order statistics: sorted runs as they are, a sorted sequence wrapped."""
    return values if isinstance(values, SortedRuns | SortedValues) else SortedValues(values)


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
        self._runs.add(batch_index, map(abs, map(operator.sub, labels, itertools.repeat(constant))))  # |y - c|

    def runs(self, prediction: float) -> SortedRuns:
        """Every |y - c|, as sorted runs (the labels that waited for ``prediction`` are added now)."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for batch_index, labels in waiting:
            self.add(batch_index, labels, prediction)
        self._use(prediction)
        return self._runs

    def merged(self, prediction: float) -> list[float]:
        return self.runs(prediction).merged()


def absolute_errors(labels: Sequence[float], predictions: Sequence[float]) -> Iterator[float]:
    """|y - p| per row (lazily)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    return map(abs, map(operator.sub, labels, predictions))


def metrics_of_sorted_absolute_errors(
    absolute: OrderedValues | Sequence[float], spread: LabelSpread
) -> dict[str, float | None]:
    """The metrics from the absolute errors, as sorted runs or in ascending order (``spread`` is of the same rows'
    labels)."""
    errors = ordered(absolute)
    rows = len(errors)
    if rows == 0:
        raise ValueError("no rows to compute metrics on")
    if spread.rows != rows:
        raise ValueError(f"{rows} errors but the label spread is of {spread.rows} labels")
    squared = math.fsum(map(operator.mul, errors.values(), errors.values()))
    mse = squared / rows
    middle = rows // 2
    total = spread.total_sum_of_squares
    median = errors.kth(middle) if rows % 2 else (errors.kth(middle - 1) + errors.kth(middle)) / 2
    return {
        "rows": rows,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": math.fsum(errors.values()) / rows,
        "medianAbsoluteError": median,
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
    absolute = sorted(map(abs, map(operator.sub, labels, itertools.repeat(float(prediction)))))  # |y - prediction|
    return metrics_of_sorted_absolute_errors(absolute, spread or LabelSpread.of(labels))
