"""Regression metrics in plain Python (the Lambda has no numpy); sums are exact (``math.fsum``).

Everything runs over C iterators (``map`` with ``operator`` and float methods, ``sorted``): a Python
expression per row would cost as much as the rest of the Lambda. What only depends on the labels (R²'s
denominator) is computed once and shared by every model (``LabelSpread``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
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


def _error_metrics(errors: list[float], spread: LabelSpread) -> dict[str, float | None]:
    rows = len(errors)
    squared = math.fsum(map(operator.mul, errors, errors))
    # One sort gives the median; fsum's result does not depend on the order. (Selecting the median from a
    # sample's bounds instead of sorting measured no faster: each C pass over the values costs about as much.)
    absolute = sorted(map(abs, errors))
    middle = rows // 2
    mse = squared / rows
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
    """MSE (the seed notebook's metric), RMSE, MAE, median absolute error and R² of predictions vs labels.

    ``spread`` (``LabelSpread.of(labels)``) may be passed in when several models share the labels.
    """
    rows = len(labels)
    if rows == 0:
        raise ValueError("no rows to compute metrics on")
    if len(predictions) != rows:
        raise ValueError(f"{len(predictions)} predictions for {rows} labels")
    if spread is not None and spread.rows != rows:
        raise ValueError(f"the label spread is of {spread.rows} labels, not {rows}")
    return _error_metrics(list(map(operator.sub, labels, predictions)), spread or LabelSpread.of(labels))


def constant_prediction_metrics(
    labels: Sequence[float], prediction: float, spread: LabelSpread | None = None
) -> dict[str, float | None]:
    """``regression_metrics`` of a model that predicts ``prediction`` for every row (the naive baseline)."""
    rows = len(labels)
    if rows == 0:
        raise ValueError("no rows to compute metrics on")
    if spread is not None and spread.rows != rows:
        raise ValueError(f"the label spread is of {spread.rows} labels, not {rows}")
    return _error_metrics(list(map(float(prediction).__rsub__, labels)), spread or LabelSpread.of(labels))
