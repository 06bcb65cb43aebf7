"""Managed spot training with checkpoints: an injected spot interruption restarts the job, which resumes from its
last checkpoint under CheckpointConfig.S3Uri (local.checkpoints) and ends with the model an uninterrupted job
makes; without a CheckpointConfig it trains again from the beginning. Every request is validated against
botocore's CreateTrainingJob input shape (the local control plane's validation), answers against the outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_local_control_plane import (  # the same fixtures and request as the control-plane tests
    BUCKET,
    Registry,
    assert_output_shape,
    aws,
    finished_job,
    registry,
    sagemaker,
    training_request,
)

from local.linear_model import LinearModel
from local.sagemaker.control_plane import LocalSageMaker
from local.sagemaker.faults import FaultPlan

__all__ = ["Registry", "aws", "registry", "sagemaker"]  # fixtures used by name
CHECKPOINTS = f"s3://{BUCKET}/runs/r1/checkpoints/sharded/"
EPOCHS = 4


def spot_request(name: str, *, checkpoints: bool) -> dict[str, Any]:
    request = training_request(name, EnableManagedSpotTraining=True,
                               StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200})
    request["HyperParameters"] = {**request["HyperParameters"], "epochs": str(EPOCHS),
                                  "early_stopping_patience": str(EPOCHS + 1)}
    if checkpoints:
        request["CheckpointConfig"] = {"S3Uri": CHECKPOINTS}
    return request


def run(plane: LocalSageMaker, request: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    epochs: list[int] = []
    plane.listener = lambda kind, payload: epochs.append(payload["epoch"]) if kind == "training.epoch" else None
    plane.handle("CreateTrainingJob", request)
    job = finished_job(plane, request["TrainingJobName"])
    assert_output_shape("DescribeTrainingJob", job)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return job, epochs


def model_of(aws: Any, job: dict[str, Any]) -> LinearModel:
    key = job["ModelArtifacts"]["S3ModelArtifacts"].split("/", 3)[3]
    return LinearModel.from_tar_gz(aws.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def checkpoint_keys(aws: Any) -> list[str]:
    listed = aws.list_objects_v2(Bucket=BUCKET, Prefix="runs/r1/checkpoints/").get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_an_interrupted_spot_job_resumes_from_its_checkpoint_with_the_uninterrupted_model(
    sagemaker: LocalSageMaker, aws: Any
) -> None:
    reference, reference_epochs = run(sagemaker, spot_request("spot-reference", checkpoints=False))
    assert reference_epochs == list(range(1, EPOCHS + 1))

    sagemaker.faults = FaultPlan(spot_interruptions={"spot-resumed": 2})
    job, epochs = run(sagemaker, spot_request("spot-resumed", checkpoints=True))
    # epochs 1-2 ran, the instances were reclaimed after epoch 2's checkpoint, the restart went on with 3
    assert epochs == [1, 3, 4]
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Interrupted", "Starting", "Downloading", "Training",
                        "Uploading", "Completed"]
    assert job["CheckpointConfig"] == {"S3Uri": CHECKPOINTS}
    assert checkpoint_keys(aws) == [f"runs/r1/checkpoints/sharded/linear-learner-epoch-{e:04d}.npz"
                                    for e in range(1, EPOCHS + 1)]
    resumed, uninterrupted = model_of(aws, job), model_of(aws, reference)
    np.testing.assert_array_equal(resumed.weights, uninterrupted.weights)
    assert resumed.bias == uninterrupted.bias
    # the restart costs setup and download again: more training time than the uninterrupted job
    assert job["TrainingTimeInSeconds"] > reference["TrainingTimeInSeconds"]
    assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]  # managed spot savings


def test_without_checkpoints_an_interrupted_spot_job_trains_again_from_the_beginning(
    sagemaker: LocalSageMaker, aws: Any
) -> None:
    sagemaker.faults = FaultPlan(spot_interruptions={"spot-restarted": 2})
    job, epochs = run(sagemaker, spot_request("spot-restarted", checkpoints=False))
    assert epochs == [1, 1, 2, 3, 4]  # epoch 2's end was lost with the instances
    assert "Interrupted" in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert checkpoint_keys(aws) == []


def test_an_on_demand_job_is_not_interrupted_and_writes_no_checkpoints(sagemaker: LocalSageMaker, aws: Any) -> None:
    sagemaker.faults = FaultPlan(spot_interruptions={"*": 1})
    request = training_request("on-demand", CheckpointConfig={"S3Uri": CHECKPOINTS})
    job, _ = run(sagemaker, request)
    assert "Interrupted" not in [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert checkpoint_keys(aws) == []


@pytest.mark.parametrize("uri", ["not-a-uri", "s3://"])
def test_a_bad_checkpoint_uri_is_refused_as_botocore_would(sagemaker: LocalSageMaker, uri: str) -> None:
    from local.errors import SageMakerApiError

    with pytest.raises(SageMakerApiError):
        sagemaker.handle("CreateTrainingJob", {**spot_request("bad-uri", checkpoints=False),
                                               "CheckpointConfig": {"S3Uri": uri}})
