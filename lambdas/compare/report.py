"""The comparison's outputs: report.json, report.md, the CloudWatch metrics and the one-sentence verdict."""

from __future__ import annotations

import json
from typing import Any

from lambdas.compare.cost import cost_markdown
from lambdas.lambda_common.vocabulary import (
    BILLABLE_INSTANCE_SECONDS,
    BRANCHES,
    CSV,
    FULLY_REPLICATED,
    JSON,
    JSONLINES,
    METRIC_DIMENSIONS,
    NAIVE_BASELINE,
    REPLICATED,
    SHARDED,
    SHARDED_BY_S3_KEY,
    TEST_MSE,
    TRAINING_SPEED_UP,
    TRAINING_TIME,
)

MARKDOWN = "text/markdown; charset=utf-8"
REPORT_FORMAT = "shardlab-compare-report/1"
SAME_SPEED_TOLERANCE = 0.05


def verdict(report: dict[str, Any]) -> str:
    """E.g. "ShardedByS3Key trained 4.6x faster than FullyReplicated; its test MSE is 0.3% higher (5.06 vs 5.05)."""
    comparison = report["comparison"]
    speed_up = comparison["trainingSpeedUp"]
    seconds = {branch: report["models"][branch]["training"]["trainingTimeInSeconds"] for branch in BRANCHES}
    if speed_up is None:
        speed = f"trained in the same reported time as {FULLY_REPLICATED} (0 s each)"
    elif abs(speed_up - 1) < SAME_SPEED_TOLERANCE:
        # "1.0x faster" reads as a claim; within a few percent the honest word is "about the same".
        speed = (
            f"trained in about the same time as {FULLY_REPLICATED} ({seconds[SHARDED]} s vs {seconds[REPLICATED]} s)"
        )
    elif speed_up >= 1:
        speed = f"trained {speed_up:.1f}x faster than {FULLY_REPLICATED}"
    else:
        speed = f"trained {1 / speed_up:.1f}x slower than {FULLY_REPLICATED}"
    sharded = report["models"][SHARDED]["test"]["mse"]
    replicated = report["models"][REPLICATED]["test"]["mse"]
    change = comparison["mseChangePercent"]
    if change is None or abs(change) < 0.05:
        accuracy = f"its test MSE is the same ({sharded:.4g} vs {replicated:.4g})"
    else:
        direction = "higher" if change > 0 else "lower"
        accuracy = f"its test MSE is {abs(change):.1f}% {direction} ({sharded:.4g} vs {replicated:.4g})"
    return f"{SHARDED_BY_S3_KEY} {speed}; {accuracy}."


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def comparison_figures(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    replicated, sharded = models[REPLICATED], models[SHARDED]
    replicated_mse, sharded_mse = replicated["test"]["mse"], sharded["test"]["mse"]
    change = _ratio(sharded_mse - replicated_mse, replicated_mse)
    return {
        "trainingSpeedUp": _ratio(
            replicated["training"]["trainingTimeInSeconds"], sharded["training"]["trainingTimeInSeconds"]
        ),
        "billableInstanceSecondsRatio": _ratio(
            sharded["training"]["billableInstanceSeconds"], replicated["training"]["billableInstanceSeconds"]
        ),
        "mseChangePercent": None if change is None else 100.0 * change,
    }


def number_cell(value: Any, digits: int = 4, *, thousands: bool = False) -> str:
    """A report table's cell: n/a for null, an integer as it is (or with thousands separators), else `digits`
    significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}" if thousands else str(value)
    return f"{value:.{digits}g}"


def render_markdown(report: dict[str, Any]) -> str:
    models = report["models"]
    lines = [
        f"# shardlab comparison, run `{report['runId']}`",
        "",
        f"**{report['verdict']}**",
        "",
        *([f"![training time, cost, predictions and errors]({report['chart']})", ""] if report.get("chart") else []),
        "| | " + " | ".join(models[branch]["distributionType"] for branch in BRANCHES) + " | naive baseline |",
        "|---|---:|---:|---:|",
    ]
    baseline = report["baseline"]["test"]
    for label, metric in (
        ("test MSE", "mse"),
        ("test RMSE", "rmse"),
        ("test MAE", "mae"),
        ("test median absolute error", "medianAbsoluteError"),
        ("test R²", "r2"),
    ):
        cells = [number_cell(models[branch]["test"][metric]) for branch in BRANCHES] + [number_cell(baseline[metric])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, figure in (
        ("training time (s)", "trainingTimeInSeconds"),
        ("billable time (s)", "billableTimeInSeconds"),
        ("billable instance-seconds", "billableInstanceSeconds"),
        ("instances", "instanceCount"),
    ):
        cells = [number_cell(models[branch]["training"][figure]) for branch in BRANCHES]
        lines.append(f"| {label} | " + " | ".join(cells) + " | |")
    instance_types = " | ".join(models[branch]["training"]["instanceType"] for branch in BRANCHES)
    lines.append(f"| instance type | {instance_types} | |")
    comparison = report["comparison"]
    test = report["testData"]
    lines += [
        "",
        f"- Speed-up of sharded over replicated training: {number_cell(comparison['trainingSpeedUp'], 3)}x; "
        f"sharded billable instance-seconds are {number_cell(comparison['billableInstanceSecondsRatio'], 3)}x "
        "the replicated ones.",
        (f"- Test set: `{test['uri']}`, {test['rows']} rows scored by a batch transform job per model, "
         f"{test['batches']} output objects each ({JSONLINES})." if test.get("scoring") == "transform" else
         f"- Test set: `{test['uri']}`, {test['rows']} rows scored on both endpoints in {test['batches']} "
         f"requests each ({CSV}, largest {test['largestRequestBytes']} bytes)."),
        f"- Naive baseline: predict the training label mean {number_cell(report['baseline']['prediction'], 6)} "
        f"(from {report['baseline']['source']}).",
        "",
        "Final metrics reported by the training jobs:",
        "",
    ]
    lines[-2:-2] = _host_lines(report.get("hosts"))
    for branch in BRANCHES:
        final = models[branch]["training"]["finalMetrics"]
        shown = ", ".join(f"`{name}` {number_cell(value, 6)}" for name, value in sorted(final.items())) or "none"
        lines.append(f"- {models[branch]['distributionType']} (`{models[branch]['trainingJobName']}`): {shown}")
    lines += ["", *cost_markdown(report.get("cost"))]
    return "\n".join(lines).rstrip("\n") + "\n"


def _host_lines(hosts: dict[str, Any] | None) -> list[str]:
    """Train rows and bytes per host for both jobs (FullyReplicated: all of them; ShardedByS3Key: keys[i::n])."""
    if not hosts:
        return []
    lines = [
        f"Train data per host ({hosts['trainObjects']} objects, {hosts['instanceCount']} instances; "
        f"{SHARDED_BY_S3_KEY} host algo-(i+1) reads keys[i::n] in S3 key order):",
        "",
        f"| host | {FULLY_REPLICATED} rows | {FULLY_REPLICATED} bytes | {SHARDED_BY_S3_KEY} objects "
        f"| {SHARDED_BY_S3_KEY} rows | {SHARDED_BY_S3_KEY} bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for replicated, sharded in zip(hosts[FULLY_REPLICATED], hosts[SHARDED_BY_S3_KEY], strict=True):
        lines.append(
            f"| {sharded['host']} | {replicated['rows']} | {replicated['bytes']} | {sharded['objects']} | "
            f"{sharded['rows']} | {sharded['bytes']} |"
        )
    return [*lines, ""]


def write_report(s3: Any, bucket: str, run_prefix: str, report: dict[str, Any]) -> dict[str, str]:
    """report.md, then report.json: each PutObject is atomic, and report.json's presence means "complete"."""
    markdown_key = f"{run_prefix}report.md"
    json_key = f"{run_prefix}report.json"
    s3.put_object(
        Bucket=bucket,
        Key=markdown_key,
        Body=render_markdown(report).encode(),
        ContentType=MARKDOWN,
    )
    s3.put_object(
        Bucket=bucket,
        Key=json_key,
        Body=json.dumps(report, indent=2, sort_keys=True, allow_nan=False).encode(),
        ContentType=JSON,
    )
    return {"json": f"s3://{bucket}/{json_key}", "markdown": f"s3://{bucket}/{markdown_key}"}


def metric_data(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One datum per figure and distribution type, dimensioned by DistributionType and RunId (a sweep point's
    RunId is `<runId>/<point>`: one series per point)."""
    distribution_dimension, run_dimension = METRIC_DIMENSIONS
    run = report["runId"] + (f"/{report['point']}" if report.get("point") else "")
    data: list[dict[str, Any]] = []

    def add(name: str, value: float | None, unit: str, distribution: str) -> None:
        if value is None:
            return
        data.append(
            {
                "MetricName": name,
                "Dimensions": [
                    {"Name": distribution_dimension, "Value": distribution},
                    {"Name": run_dimension, "Value": run},
                ],
                "Value": float(value),
                "Unit": unit,
            }
        )

    for model in report["models"].values():
        distribution = model["distributionType"]
        training, test = model["training"], model["test"]
        add(TRAINING_TIME, training["trainingTimeInSeconds"], "Seconds", distribution)
        add("BillableTimeInSeconds", training["billableTimeInSeconds"], "Seconds", distribution)
        add(BILLABLE_INSTANCE_SECONDS, training["billableInstanceSeconds"], "Seconds", distribution)
        add(TEST_MSE, test["mse"], "None", distribution)
        add("TestRMSE", test["rmse"], "None", distribution)
        add("TestMAE", test["mae"], "None", distribution)
        add("TestMedianAbsoluteError", test["medianAbsoluteError"], "None", distribution)
        add("TestR2", test["r2"], "None", distribution)
    add(TEST_MSE, report["baseline"]["test"]["mse"], "None", NAIVE_BASELINE)
    add(TRAINING_SPEED_UP, report["comparison"]["trainingSpeedUp"], "None", SHARDED_BY_S3_KEY)
    return data


def put_metrics(cloudwatch: Any, namespace: str, report: dict[str, Any]) -> int:
    data = metric_data(report)
    for start in range(0, len(data), 1000):  # PutMetricData takes at most 1000 data points per call
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])
    return len(data)
