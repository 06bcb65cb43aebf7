"""Linear Learner's metrics as SageMaker describes and publishes them for a built-in algorithm's job.

- ``METRIC_DEFINITIONS``: what ``DescribeTrainingJob`` returns in ``AlgorithmSpecification.MetricDefinitions``
  for a linear-learner job (the names are the "Metrics computed by the linear learner algorithm" table of
  https://docs.aws.amazon.com/sagemaker/latest/dg/linear-learner-tuning.html; the regexes are the algorithm's,
  as AWS returns them in a linear-learner job's AlgorithmSpecification).
- ``log_lines``: the algorithm's own ``#quality_metric`` log lines for a finished job's metrics, so the regexes
  above find each value in the job's log stream, as SageMaker's metric scraping does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"  # CloudWatch namespace of training jobs' metrics
_HOST = r"#quality_metric: host=\S+, "
_VALUE = r"=(\S+)"


def _definitions() -> list[dict[str, str]]:
    definitions = [
        {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) %"},
        {"Name": "train:throughput", "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second"},
    ]
    for role in ("train", "validation", "test"):
        if role != "test":  # per epoch, and the final value
            definitions.append(
                {"Name": f"{role}:objective_loss", "Regex": _HOST + rf"epoch=\S+, {role} \S+_objective <loss>" + _VALUE}
            )
            definitions.append(
                {"Name": f"{role}:objective_loss:final", "Regex": _HOST + rf"{role} \S+_objective <loss>" + _VALUE}
            )
        else:
            definitions.append({"Name": "test:objective_loss", "Regex": _HOST + r"test \S+_objective <loss>" + _VALUE})
        for loss in ("mse", "absolute_loss"):
            definitions.append({"Name": f"{role}:{loss}", "Regex": _HOST + f"{role} {loss} <loss>" + _VALUE})
        for score in (
            "binary_classification_accuracy",
            "precision",
            "recall",
            "multiclass_accuracy",
            "macro_precision",
            "macro_recall",
            "dcg",
        ):
            if role == "train" and score in ("multiclass_accuracy", "macro_precision", "macro_recall", "dcg"):
                continue
            definitions.append({"Name": f"{role}:{score}", "Regex": _HOST + f"{role} {score} <score>" + _VALUE})
        definitions.append(
            {"Name": f"{role}:binary_f_beta", "Regex": _HOST + rf"{role} binary_f_\S+ <score>" + _VALUE}
        )
        if role != "train":
            definitions.append(
                {"Name": f"{role}:macro_f_beta", "Regex": _HOST + rf"{role} macro_f_\S+ <score>" + _VALUE}
            )
            definitions.append(
                {
                    "Name": f"{role}:multiclass_top_k_accuracy",
                    "Regex": _HOST + rf"{role} multiclass_top_k_accuracy_\S+ <score>" + _VALUE,
                }
            )
    return definitions


METRIC_DEFINITIONS: list[dict[str, str]] = _definitions()
METRIC_NAMES = frozenset(definition["Name"] for definition in METRIC_DEFINITIONS)


def log_prefix(at: datetime) -> str:
    """The algorithm's log line prefix: ``[12/06/2026 05:30:00 INFO 140291229812544] ``."""
    return f"[{at:%m/%d/%Y %H:%M:%S} INFO 140291229812544] "


def epoch_lines(host: str, epoch: int, loss: str, train: float, validation: float | None) -> list[str]:
    """One epoch's ``#quality_metric`` lines (train, and validation when there is a validation channel)."""
    lines = [f"#quality_metric: host={host}, epoch={epoch}, train {loss}_objective <loss>={train!r}"]
    if validation is not None:
        lines.append(f"#quality_metric: host={host}, epoch={epoch}, validation {loss}_objective <loss>={validation!r}")
    return lines


def final_lines(host: str, loss: str, metrics: Mapping[str, float]) -> list[str]:
    """The final ``#quality_metric`` lines of the selected model, one per metric the job computed."""
    lines = []
    for name, value in sorted(metrics.items()):
        role, _, metric = name.partition(":")
        if metric == "objective_loss":
            lines.append(f"#quality_metric: host={host}, {role} {loss}_objective <loss>={value!r}")
        elif f"{role}:{metric}" in METRIC_NAMES:
            lines.append(f"#quality_metric: host={host}, {role} {metric} <loss>={value!r}")
    return lines


EPOCH_METRICS = ("train:objective_loss", "validation:objective_loss")  # reported once per epoch


def reported_metrics(metrics: Mapping[str, float], last_epoch: Mapping[str, float]) -> dict[str, float]:
    """The last value the MetricDefinitions find of each metric (others stay local-only detail): the selected
    model's ``metrics``, except the per-epoch ones, whose last line is the last epoch's (``<name>:final``
    is the selected model's)."""
    reported: dict[str, float] = {}
    for name, value in metrics.items():
        if name in METRIC_NAMES:
            reported[name] = last_epoch.get(name, value)
        if name in EPOCH_METRICS:
            reported[f"{name}:final"] = value
    return dict(sorted(reported.items()))


def final_metric_data(
    metrics: Mapping[str, float], last_epoch: Mapping[str, float], at: datetime
) -> list[dict[str, object]]:
    """``FinalMetricDataList``."""
    return [
        {"MetricName": name, "Value": value, "Timestamp": at}
        for name, value in reported_metrics(metrics, last_epoch).items()
    ]
