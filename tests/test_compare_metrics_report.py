"""lambdas.compare.metrics against a numpy reference; the verdict sentence and the report renderings."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from lambdas.compare.metrics import constant_prediction_metrics, regression_metrics
from lambdas.compare.report import comparison_figures, metric_data, render_markdown, verdict


@pytest.mark.parametrize("rows", [1, 2, 1001, 20_000])
def test_metrics_match_numpy(rows: int) -> None:
    rng = np.random.default_rng(rows)
    y = rng.normal(5, 2.6, rows).astype(np.float32).astype(np.float64)
    p = y + rng.normal(0, 1.5, rows)
    got = regression_metrics(y.tolist(), p.tolist())
    errors = y - p
    assert got["rows"] == rows
    assert got["mse"] == pytest.approx(np.mean(errors**2), rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-12)
    assert got["mae"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-12)
    assert got["medianAbsoluteError"] == np.median(np.abs(errors))
    if rows > 1:
        assert got["r2"] == pytest.approx(1 - np.sum(errors**2) / np.sum((y - y.mean()) ** 2), rel=1e-10)
    else:
        assert got["r2"] is None  # one label: no variance


def test_metrics_of_a_constant_prediction_and_bad_input() -> None:
    got = regression_metrics([1.0, 2.0, 3.0, 4.0], [2.5] * 4)
    assert got["mse"] == 1.25 and got["mae"] == 1.0 and got["medianAbsoluteError"] == 1.0 and got["r2"] == 0.0
    with pytest.raises(ValueError, match="no rows"):
        regression_metrics([], [])
    with pytest.raises(ValueError, match="2 predictions for 3 labels"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0])


def sample_report(replicated_seconds: int = 460, sharded_seconds: int = 100) -> dict[str, Any]:
    def model(distribution: str, seconds: int, mse: float) -> dict[str, Any]:
        return {
            "distributionType": distribution,
            "trainingJobName": f"job-{distribution}",
            "endpointName": f"ep-{distribution}",
            "training": {
                "trainingTimeInSeconds": seconds,
                "billableTimeInSeconds": seconds + 10,
                "billableInstanceSeconds": 5 * (seconds + 10),
                "instanceCount": 5,
                "instanceType": "ml.c5.2xlarge",
                "finalMetrics": {"validation:mse": 4.5},
            },
            "test": {"rows": 10, "mse": mse, "rmse": mse**0.5, "mae": 1.7, "medianAbsoluteError": 1.4, "r2": 0.27},
        }

    models = {
        "replicated": model("FullyReplicated", replicated_seconds, 5.054),
        "sharded": model("ShardedByS3Key", sharded_seconds, 5.0698),
    }
    report = {
        "runId": "run-1",
        "models": models,
        "baseline": {
            "prediction": 5.12,
            "source": "the event's trainLabelMean",
            "test": {"rows": 10, "mse": 6.9, "rmse": 2.6, "mae": 2.1, "medianAbsoluteError": 1.8, "r2": None},
        },
        "testData": {"uri": "s3://b/test/1984.data", "rows": 10, "batches": 1, "largestRequestBytes": 99},
        "comparison": comparison_figures(models),
    }
    report["verdict"] = verdict(report)
    return report


def test_verdict_sentences() -> None:
    assert sample_report()["verdict"] == (
        "ShardedByS3Key trained 4.6x faster than FullyReplicated; its test MSE is 0.3% higher (5.07 vs 5.054)."
    )
    assert sample_report(100, 200)["verdict"].startswith("ShardedByS3Key trained 2.0x slower than FullyReplicated")
    same = sample_report()
    same["models"]["sharded"]["test"]["mse"] = 5.054
    same["comparison"] = comparison_figures(same["models"])
    assert verdict(same).endswith("its test MSE is the same (5.054 vs 5.054).")
    lower = copy.deepcopy(same)
    lower["models"]["sharded"]["test"]["mse"] = 4.8
    lower["comparison"] = comparison_figures(lower["models"])
    assert "its test MSE is 5.0% lower (4.8 vs 5.054)" in verdict(lower)
    assert sample_report(100, 98)["verdict"].startswith(
        "ShardedByS3Key trained in about the same time as FullyReplicated (98 s vs 100 s);"
    )
    assert sample_report(100, 0)["comparison"]["trainingSpeedUp"] is None
    assert "same reported time" in sample_report(100, 0)["verdict"]


def test_markdown_table() -> None:
    markdown = render_markdown(sample_report())
    lines = markdown.splitlines()
    assert lines[0] == "# shardlab comparison, run `run-1`"
    assert "| | FullyReplicated | ShardedByS3Key | naive baseline |" in lines
    assert "| test MSE | 5.054 | 5.07 | 6.9 |" in lines
    assert "| test R² | 0.27 | 0.27 | n/a |" in lines
    assert "| training time (s) | 460 | 100 | |" in lines
    assert "| billable instance-seconds | 2350 | 550 | |" in lines
    assert "Speed-up of sharded over replicated training: 4.6x" in markdown


def test_metric_data_dimensions_and_skipped_nulls() -> None:
    data = metric_data(sample_report())
    assert {tuple(d["Name"] for d in datum["Dimensions"]) for datum in data} == {("DistributionType", "RunId")}
    names = [(datum["MetricName"], datum["Dimensions"][0]["Value"]) for datum in data]
    assert ("TrainingTimeInSeconds", "ShardedByS3Key") in names
    assert ("TestMSE", "NaiveMeanBaseline") in names
    assert ("TrainingSpeedUp", "ShardedByS3Key") in names
    assert len(names) == len(set(names)) == 2 * 8 + 2
    assert {datum["Dimensions"][1]["Value"] for datum in data} == {sample_report()["runId"]}


def test_a_sweep_points_metrics_are_a_series_of_their_own() -> None:
    run_id = sample_report()["runId"]
    points = [metric_data({**sample_report(), "point": point}) for point in ("p01", "p02")]
    assert [{datum["Dimensions"][1]["Value"] for datum in data} for data in points] == [
        {f"{run_id}/p01"}, {f"{run_id}/p02"}
    ]


def test_metrics_from_sorted_runs_equal_the_metrics_of_all_rows() -> None:
    import itertools
    import random

    from lambdas.compare.metrics import (
        LabelSpread,
        SortedRuns,
        absolute_errors,
        constant_prediction_metrics,
        metrics_of_sorted_absolute_errors,
    )

    rng = np.random.default_rng(31)
    y = rng.normal(5, 2.6, 10_001).astype(np.float32).astype(np.float64).tolist()
    p = (np.array(y) + rng.normal(0, 1.5, len(y))).tolist()
    runs = SortedRuns()
    bounds = [0, 1, 700, 701, 5000, 10_001]
    batches = list(itertools.pairwise(bounds))
    random.Random(3).shuffle(batches)  # batches come back in any order
    for start, stop in batches:
        runs.add(start, absolute_errors(y[start:stop], p[start:stop]))
    assert len(runs) == len(y)
    assert runs.merged() == sorted(abs(a - b) for a, b in zip(y, p, strict=True))
    spread = LabelSpread.of(y)
    assert metrics_of_sorted_absolute_errors(runs.merged(), spread) == regression_metrics(y, p)
    assert constant_prediction_metrics(y, 4.75, spread) == regression_metrics(y, [4.75] * len(y))
    with pytest.raises(ValueError, match="batch 0 was added twice"):
        runs.add(0, [1.0])
    with pytest.raises(ValueError, match="2 predictions for 3 labels"):
        absolute_errors([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="the label spread is of 10001 labels"):
        metrics_of_sorted_absolute_errors([0.5, 1.0], spread)


def test_baseline_errors_wait_for_the_mean_and_equal_the_constant_prediction_metrics() -> None:
    from lambdas.compare.metrics import ConstantPredictionErrors, LabelSpread, metrics_of_sorted_absolute_errors

    rng = np.random.default_rng(37)
    y = rng.normal(5, 2.6, 3000).astype(np.float32).astype(np.float64).tolist()
    errors = ConstantPredictionErrors()
    errors.add(2, y[2000:], None)  # scored before the training label mean was read
    errors.add(0, y[:1000], 4.75)
    errors.add(1, y[1000:2000], None)
    merged = errors.merged(4.75)
    assert merged == sorted(abs(label - 4.75) for label in y)
    spread = LabelSpread.of(y)
    assert metrics_of_sorted_absolute_errors(merged, spread) == constant_prediction_metrics(y, 4.75, spread)
    with pytest.raises(ValueError, match=r"the constant prediction changed from 4\.75 to 5\.0"):
        errors.add(3, [1.0], 5.0)
