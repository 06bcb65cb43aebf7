"""Clean-up under races and half-gone state: a training job Step Functions already stopped, a job that never
existed (SageMaker's 'Requested resource not found.'), and a stop refused while the job still runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdas.cleanup.sagemaker_cleanup import cleanup_run
from local.fake_aws import REGION


def _validation(message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, operation)


class RacingSageMaker:
    """Describe says InProgress; by the time StopTrainingJob arrives, someone else has stopped the job."""

    def __init__(self, status_after_race: str) -> None:
        self.describes = 0
        self.status_after_race = status_after_race

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.describes += 1
        if TrainingJobName.endswith("never-created"):
            raise _validation("Requested resource not found.", "DescribeTrainingJob")
        return {"TrainingJobStatus": "InProgress" if self.describes == 1 else self.status_after_race}

    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        raise _validation("The request was rejected because the training job is in status Stopping.",
                          "StopTrainingJob")

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        raise _validation(f'Could not find endpoint "{EndpointName}".', "DescribeEndpoint")

    def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        raise _validation(f"Could not find requested job with name {TransformJobName}", "DescribeTransformJob")

    def delete_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        raise _validation(f'Could not find endpoint configuration "{EndpointConfigName}".', "DeleteEndpointConfig")

    def delete_model(self, ModelName: str) -> dict[str, Any]:
        raise _validation(f'Could not find model "{ModelName}".', "DeleteModel")


@pytest.fixture
def logs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("logs", region_name=REGION)


def test_a_job_stopped_by_someone_else_meanwhile_counts_as_stopped(logs: Any) -> None:
    report = cleanup_run(RacingSageMaker("Stopping"), logs, ["lab-run-replicated"])
    # Not stopped by us, and no error; only its logs wait until it has stopped.
    assert report.stopped_training_jobs == [] and report.pending == ["training-job/lab-run-replicated (Stopping)"]


def test_a_job_that_was_never_created_is_nothing_to_clean(logs: Any) -> None:
    report = cleanup_run(RacingSageMaker("Stopping"), logs, ["lab-run-never-created"])
    assert report.as_dict() == {key: [] for key in report.as_dict()}


def test_a_refused_stop_of_a_job_that_still_runs_is_an_error(logs: Any) -> None:
    with pytest.raises(ClientError, match="in status Stopping"):
        cleanup_run(RacingSageMaker("InProgress"), logs, ["lab-run-replicated"])


class RacingTransforms(RacingSageMaker):
    """No training job; the run's transform job is InProgress, then stopped by someone else (Step Functions
    stops the job of an abandoned .sync task) before our StopTransformJob arrives."""

    def __init__(self) -> None:
        super().__init__("Stopping")
        self.transform_describes = 0

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        raise _validation("Requested resource not found.", "DescribeTrainingJob")

    def describe_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        self.transform_describes += 1
        return {"TransformJobStatus": "InProgress" if self.transform_describes == 1 else "Stopping"}

    def stop_transform_job(self, TransformJobName: str) -> dict[str, Any]:
        raise _validation("The request was rejected because the transform job is in status Stopping.",
                          "StopTransformJob")


def test_a_transform_job_stopped_by_someone_else_meanwhile_is_waited_for(logs: Any) -> None:
    report = cleanup_run(RacingTransforms(), logs, ["lab-run-sharded"])
    assert report.stopped_transform_jobs == [] and report.pending == ["transform-job/lab-run-sharded (Stopping)"]
