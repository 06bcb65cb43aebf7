"""Order statistics read from sorted runs without merging them (lambdas.compare.metrics.SortedRuns) equal the merged
list's, so the report's median and comparison.png's histogram do not change."""

from __future__ import annotations

import itertools
import random

import pytest

from lambdas.compare import chart
from lambdas.compare.metrics import ConstantPredictionErrors, LabelSpread, SortedRuns, metrics_of_sorted_absolute_errors


def runs_of(values: list[float], cuts: list[int]) -> SortedRuns:
    runs = SortedRuns()
    bounds = [0, *cuts, len(values)]
    for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
        runs.add(index, values[start:stop])
    return runs


@pytest.mark.parametrize("seed", range(5))
def test_kth_and_count_below_equal_the_merged_list(seed: int) -> None:
    draw = random.Random(seed)
    # Ties, zeros, subnormals, huge values and empty runs, as absolute errors can have.
    pool = [0.0, 5e-324, 1e-300, 0.5, 0.5, 1.0, 3.25, 1e300, float("inf")]
    values = [draw.choice(pool) if draw.random() < 0.3 else abs(draw.gauss(0, 3)) for _ in range(2001)]
    cuts = sorted([*draw.sample(range(len(values)), 7), 0, len(values)])
    runs = runs_of(values, cuts)
    merged = sorted(values)
    assert runs.merged() == merged
    for index in [0, 1, len(values) // 2, len(values) - 2, len(values) - 1, *draw.sample(range(len(values)), 50)]:
        assert runs.kth(index) == merged[index], index
    for probe in [*pool, 2.0, -1.0, *draw.sample(values, 20)]:
        assert runs.count_below(probe) == sum(value < probe for value in values), probe
    with pytest.raises(IndexError):
        runs.kth(len(values))


def test_negative_values_are_ordered_too() -> None:
    values = [-3.5, -0.25, 0.0, 2.0, -1e-310, 7.0, -3.5]
    runs = runs_of(values, [2, 5])
    assert [runs.kth(i) for i in range(len(values))] == sorted(values)


def test_metrics_and_histogram_from_runs_equal_those_from_the_merged_list() -> None:
    draw = random.Random(11)
    labels = [draw.gauss(5, 2.5) for _ in range(5000)]
    errors = [abs(label - (label + draw.gauss(0, 1.2))) for label in labels]
    runs = runs_of(errors, [1000, 1001, 3000])
    spread = LabelSpread.of(labels)
    assert metrics_of_sorted_absolute_errors(runs, spread) == metrics_of_sorted_absolute_errors(sorted(errors), spread)
    even = runs_of(errors[:-1], [10, 2500])
    assert metrics_of_sorted_absolute_errors(even, LabelSpread.of(labels[:-1])) == metrics_of_sorted_absolute_errors(
        sorted(errors[:-1]), LabelSpread.of(labels[:-1])
    )
    edges = chart.histogram_edges({"replicated": runs})
    assert edges == chart.histogram_edges({"replicated": sorted(errors)})
    assert chart.error_histogram(runs, edges) == chart.error_histogram(sorted(errors), edges)
    baseline = ConstantPredictionErrors()
    baseline.add(0, labels[:2000], None)
    baseline.add(1, labels[2000:], 5.0)
    assert metrics_of_sorted_absolute_errors(baseline.runs(5.0), spread) == metrics_of_sorted_absolute_errors(
        sorted(abs(label - 5.0) for label in labels), spread
    )


def test_the_picture_is_the_same_from_runs_as_from_the_merged_list() -> None:
    draw = random.Random(5)
    errors = {branch: [abs(draw.gauss(0, 1 + i)) for _ in range(3000)] for i, branch in enumerate(chart.SERIES_COLORS)}
    common = {
        "run_id": "unit",
        "verdict": "same picture",
        "training_seconds": {branch: 10.0 for branch in errors},
        "billable_instance_seconds": {branch: 50.0 for branch in errors},
        "instances": {branch: "5 x ml.c5.2xlarge" for branch in errors},
        "points": {branch: [(1.0, 2.0), (3.0, 2.5)] for branch in errors},
        "test_rows": 3000,
    }
    from_runs = chart.ChartData(
        sorted_absolute_errors={b: runs_of(v, [700, 2000]) for b, v in errors.items()}, **common
    )
    from_list = chart.ChartData(sorted_absolute_errors={b: sorted(v) for b, v in errors.items()}, **common)
    assert chart.comparison_png(from_runs) == chart.comparison_png(from_list)
