"""What each training job cost, from DescribeTrainingJob."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdas.lambda_common.vocabulary import TRAIN_CHANNEL


class TrainingJobError(ValueError):
    """The training job cannot be compared (not completed, or not what the event says it is)."""


@dataclass(frozen=True)
class TrainingFigures:
    job_name: str
    training_seconds: int
    billable_seconds: int
    instance_count: int
    instance_type: str
    distribution_type: str | None  # S3DataDistributionType of the train channel
    spot: bool
    final_metrics: dict[str, float]

    @property
    def billable_instance_seconds(self) -> int:
        # BillableTimeInSeconds is wall-clock time; SageMaker bills it once per instance.
        return self.billable_seconds * self.instance_count

    def as_report(self) -> dict[str, Any]:
        return {
            "trainingJobName": self.job_name,
            "trainingTimeInSeconds": self.training_seconds,
            "billableTimeInSeconds": self.billable_seconds,
            "billableInstanceSeconds": self.billable_instance_seconds,
            "instanceCount": self.instance_count,
            "instanceType": self.instance_type,
            "trainChannelDistribution": self.distribution_type,
            "managedSpotTraining": self.spot,
            "finalMetrics": self.final_metrics,
        }


def describe_training(sagemaker: Any, job_name: str) -> TrainingFigures:
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    status = job.get("TrainingJobStatus")
    if status != "Completed":
        raise TrainingJobError(f"training job {job_name} is {status}, not Completed")
    missing = [key for key in ("TrainingTimeInSeconds", "BillableTimeInSeconds") if key not in job]
    if missing:
        raise TrainingJobError(f"training job {job_name} reports no {' or '.join(missing)}")
    resources = job.get("ResourceConfig", {})
    distribution = None
    for channel in job.get("InputDataConfig", []):
        if channel.get("ChannelName") == TRAIN_CHANNEL:
            distribution = channel.get("DataSource", {}).get("S3DataSource", {}).get("S3DataDistributionType")
    return TrainingFigures(
        job_name=job_name,
        training_seconds=int(job["TrainingTimeInSeconds"]),
        billable_seconds=int(job["BillableTimeInSeconds"]),
        instance_count=int(resources.get("InstanceCount", 0)),
        instance_type=str(resources.get("InstanceType", "")),
        distribution_type=distribution,
        spot=bool(job.get("EnableManagedSpotTraining", False)),
        final_metrics={m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList", [])},
    )
