"""The comparison's outputs: report.json, report.md, the CloudWatch metrics and the one-sentence verdict."""

from __future__ import annotations

import json
from typing import Any

DISTRIBUTION_TYPES = {"replicated": "FullyReplicated", "sharded": "ShardedByS3Key"}
REPORT_FORMAT = "shardlab-compare-report/1"
SAME_SPEED_TOLERANCE = 0.05


def verdict(report: dict[str, Any]) -> str:
    """E.g. "ShardedByS3Key trained 4.6x faster than FullyReplicated; its test MSE is 0.3% higher (5.06 vs 5.05)."""
    comparison = report["comparison"]
    speed_up = comparison["trainingSpeedUp"]
    seconds = {kind: report["models"][kind]["training"]["trainingTimeInSeconds"] for kind in DISTRIBUTION_TYPES}
    if speed_up is None:
        speed = "trained in the same reported time as FullyReplicated (0 s each)"
    elif abs(speed_up - 1) < SAME_SPEED_TOLERANCE:
        # "1.0x faster" reads as a claim; within a few percent the honest word is "about the same".
        speed = (
            f"trained in about the same time as FullyReplicated ({seconds['sharded']} s vs {seconds['replicated']} s)"
        )
    elif speed_up >= 1:
        speed = f"trained {speed_up:.1f}x faster than FullyReplicated"
    else:
        speed = f"trained {1 / speed_up:.1f}x slower than FullyReplicated"
    sharded = report["models"]["sharded"]["test"]["mse"]
    replicated = report["models"]["replicated"]["test"]["mse"]
    change = comparison["mseChangePercent"]
    if change is None or abs(change) < 0.05:
        accuracy = f"its test MSE is the same ({sharded:.4g} vs {replicated:.4g})"
    else:
        direction = "higher" if change > 0 else "lower"
        accuracy = f"its test MSE is {abs(change):.1f}% {direction} ({sharded:.4g} vs {replicated:.4g})"
    return f"ShardedByS3Key {speed}; {accuracy}."


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def comparison_figures(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    replicated, sharded = models["replicated"], models["sharded"]
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


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def render_markdown(report: dict[str, Any]) -> str:
    models = report["models"]
    order = ("replicated", "sharded")
    lines = [
        f"# shardlab comparison, run `{report['runId']}`",
        "",
        f"**{report['verdict']}**",
        "",
        *([f"![training time, cost, predictions and errors]({report['chart']})", ""] if report.get("chart") else []),
        "| | " + " | ".join(models[key]["distributionType"] for key in order) + " | naive baseline |",
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
        cells = [_number(models[key]["test"][metric]) for key in order] + [_number(baseline[metric])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, figure in (
        ("training time (s)", "trainingTimeInSeconds"),
        ("billable time (s)", "billableTimeInSeconds"),
        ("billable instance-seconds", "billableInstanceSeconds"),
        ("instances", "instanceCount"),
    ):
        cells = [_number(models[key]["training"][figure]) for key in order]
        lines.append(f"| {label} | " + " | ".join(cells) + " | |")
    lines.append("| instance type | " + " | ".join(models[key]["training"]["instanceType"] for key in order) + " | |")
    comparison = report["comparison"]
    test = report["testData"]
    lines += [
        "",
        f"- Speed-up of sharded over replicated training: {_number(comparison['trainingSpeedUp'], 3)}x; "
        f"sharded billable instance-seconds are {_number(comparison['billableInstanceSecondsRatio'], 3)}x "
        "the replicated ones.",
        f"- Test set: `{test['uri']}`, {test['rows']} rows scored on both endpoints in {test['batches']} "
        f"requests each (text/csv, largest {test['largestRequestBytes']} bytes).",
        f"- Naive baseline: predict the training label mean {_number(report['baseline']['prediction'], 6)} "
        f"(from {report['baseline']['source']}).",
        "",
        "Final metrics reported by the training jobs:",
        "",
    ]
    lines[-2:-2] = _host_lines(report.get("hosts"))
    for key in order:
        final = models[key]["training"]["finalMetrics"]
        shown = ", ".join(f"`{name}` {_number(value, 6)}" for name, value in sorted(final.items())) or "none"
        lines.append(f"- {models[key]['distributionType']} (`{models[key]['trainingJobName']}`): {shown}")
    return "\n".join(lines) + "\n"


def _host_lines(hosts: dict[str, Any] | None) -> list[str]:
    """Train rows and bytes per host for both jobs (FullyReplicated: all of them; ShardedByS3Key: keys[i::n])."""
    if not hosts:
        return []
    lines = [
        f"Train data per host ({hosts['trainObjects']} objects, {hosts['instanceCount']} instances; "
        "ShardedByS3Key host algo-(i+1) reads keys[i::n] in S3 key order):",
        "",
        "| host | FullyReplicated rows | FullyReplicated bytes | ShardedByS3Key objects | ShardedByS3Key rows "
        "| ShardedByS3Key bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for replicated, sharded in zip(hosts["FullyReplicated"], hosts["ShardedByS3Key"], strict=True):
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
        ContentType="text/markdown; charset=utf-8",
    )
    s3.put_object(
        Bucket=bucket,
        Key=json_key,
        Body=json.dumps(report, indent=2, sort_keys=True, allow_nan=False).encode(),
        ContentType="application/json",
    )
    return {"json": f"s3://{bucket}/{json_key}", "markdown": f"s3://{bucket}/{markdown_key}"}


def metric_data(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One datum per figure and distribution type, dimensioned by DistributionType and RunId."""
    data: list[dict[str, Any]] = []

    def add(name: str, value: float | None, unit: str, distribution: str) -> None:
        if value is None:
            return
        data.append(
            {
                "MetricName": name,
                "Dimensions": [
                    {"Name": "DistributionType", "Value": distribution},
                    {"Name": "RunId", "Value": report["runId"]},
                ],
                "Value": float(value),
                "Unit": unit,
            }
        )

    for model in report["models"].values():
        distribution = model["distributionType"]
        training, test = model["training"], model["test"]
        add("TrainingTimeInSeconds", training["trainingTimeInSeconds"], "Seconds", distribution)
        add("BillableTimeInSeconds", training["billableTimeInSeconds"], "Seconds", distribution)
        add("BillableInstanceSeconds", training["billableInstanceSeconds"], "Seconds", distribution)
        add("TestMSE", test["mse"], "None", distribution)
        add("TestRMSE", test["rmse"], "None", distribution)
        add("TestMAE", test["mae"], "None", distribution)
        add("TestMedianAbsoluteError", test["medianAbsoluteError"], "None", distribution)
        add("TestR2", test["r2"], "None", distribution)
    add("TestMSE", report["baseline"]["test"]["mse"], "None", "NaiveMeanBaseline")
    add("TrainingSpeedUp", report["comparison"]["trainingSpeedUp"], "None", "ShardedByS3Key")
    return data


def put_metrics(cloudwatch: Any, namespace: str, report: dict[str, Any]) -> int:
    data = metric_data(report)
    for start in range(0, len(data), 1000):  # PutMetricData takes at most 1000 data points per call
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])
    return len(data)
