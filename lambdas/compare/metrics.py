"""Regression metrics in plain Python (the Lambda has no numpy); sums are exact (``math.fsum``)."""

from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Sequence


def regression_metrics(labels: Sequence[float], predictions: Sequence[float]) -> dict[str, float | None]:
    """MSE (the seed notebook's metric), RMSE, MAE, median absolute error and R² of predictions vs labels."""
    rows = len(labels)
    if rows == 0:
        raise ValueError("no rows to compute metrics on")
    if len(predictions) != rows:
        raise ValueError(f"{len(predictions)} predictions for {rows} labels")
    # map() over operator functions: several times faster than generator expressions on 10^5-10^6 rows
    errors = list(map(operator.sub, labels, predictions))
    squared = math.fsum(map(operator.mul, errors, errors))
    mean_label = math.fsum(labels) / rows
    centered = [y - mean_label for y in labels]
    total = math.fsum(map(operator.mul, centered, centered))
    mse = squared / rows
    absolute = list(map(abs, errors))
    return {
        "rows": rows,
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": math.fsum(absolute) / rows,
        "medianAbsoluteError": statistics.median(absolute),
        # R² is undefined when every label is the same: null (JSON has no NaN).
        "r2": 1.0 - squared / total if total > 0 else None,
    }
