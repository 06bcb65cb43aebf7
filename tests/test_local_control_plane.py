"""The local SageMaker control plane: request validation, lifecycles, training on moto S3, fault hooks."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws

from lambdas.lambda_common.recordio import encode_record
from local.aws_models import strict_errors
from local.errors import SageMakerApiError
from local.fake_aws import ACCOUNT_ID, REGION
from local.linear_model import LinearModel
from local.sagemaker.control_plane import SUPPORTED_OPERATIONS, LocalSageMaker
from local.sagemaker.faults import FaultPlan
from local.sagemaker.validation import sagemaker_service_model

BUCKET = "shardlab-test"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/shardlab-training"
TRUE_WEIGHTS = np.array([1.5, -2.0, 0.5, 3.0])
SERVICE = sagemaker_service_model()


class Registry:
    def __init__(self) -> None:
        self.models: dict[str, LinearModel] = {}

    def register(self, name: str, model: LinearModel) -> None:
        self.models[name] = model

    def unregister(self, name: str) -> None:
        self.models.pop(name, None)


@functools.cache
def _recordio(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, TRUE_WEIGHTS.size)).astype(np.float32)
    y = x @ TRUE_WEIGHTS + 1.0 + rng.normal(scale=0.1, size=rows)
    return b"".join(encode_record(row.tolist(), float(label)) for row, label in zip(x, y, strict=True))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for year in range(1979, 1984):
            s3.put_object(Bucket=BUCKET, Key=f"data/train/{year}.data", Body=_recordio(400, year))
            s3.put_object(Bucket=BUCKET, Key=f"data/validation/{year}.data", Body=_recordio(50, year + 100))
        yield s3


@pytest.fixture
def offline() -> LocalSageMaker:
    """No S3 behind it: for requests that validation rejects before anything is read."""
    return LocalSageMaker()


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def sagemaker(aws: Any, registry: Registry) -> Iterator[LocalSageMaker]:
    plane = LocalSageMaker(registry=registry, s3_client=aws)
    yield plane
    assert plane.shutdown()


def training_request(name: str, distribution: str = "ShardedByS3Key", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceCount": 5, "InstanceType": "ml.c5.2xlarge", "VolumeSizeInGB": 10},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/data/train/",
                        "S3DataDistributionType": distribution,
                    }
                },
            },
            {
                "ChannelName": "validation",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/data/validation/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            },
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/runs/r1/training"},
        "HyperParameters": {
            "feature_dim": "4",
            "mini_batch_size": "100",
            "predictor_type": "regressor",
            "epochs": "30",
            "learning_rate": "0.05",
            "num_models": "8",
            "loss": "squared_loss",
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(overrides)
    return request


def wait_for(read: Any, done: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = read()
        if done(response):
            return response
        assert time.monotonic() < deadline, f"timed out; last response {response}"
        time.sleep(0.01)


def finished_job(plane: LocalSageMaker, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: plane.handle("DescribeTrainingJob", {"TrainingJobName": name}),
        lambda r: r["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"),
    )


def assert_output_shape(operation: str, response: dict[str, Any]) -> None:
    assert strict_errors("sagemaker", operation, response) == []


def api_error(plane: LocalSageMaker, operation: str, params: dict[str, Any]) -> SageMakerApiError:
    with pytest.raises(SageMakerApiError) as caught:
        plane.handle(operation, params)
    return caught.value


# ------------------------------------------------------------------------------------------------ training


def test_sharded_training_job_runs_through_every_status_and_writes_a_loadable_artifact(
    sagemaker: LocalSageMaker, aws: Any
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    sagemaker.listener = lambda kind, payload: seen.append((kind, payload))
    created = sagemaker.handle("CreateTrainingJob", training_request("job-sharded"))
    assert created == {"TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:training-job/job-sharded"}

    job = finished_job(sagemaker, "job-sharded")

    assert_output_shape("DescribeTrainingJob", job)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/runs/r1/training/job-sharded/output/model.tar.gz"
    model = LinearModel.from_tar_gz(
        aws.get_object(Bucket=BUCKET, Key="runs/r1/training/job-sharded/output/model.tar.gz")["Body"].read()
    )
    np.testing.assert_allclose(model.weights, TRUE_WEIGHTS, atol=0.1)
    assert job["TrainingEndTime"] > job["TrainingStartTime"] > job["CreationTime"]
    assert job["TrainingTimeInSeconds"] == pytest.approx(
        (job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds(), abs=1
    )
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]  # wall clock; x InstanceCount to bill
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert {"validation:mse", "validation:absolute_loss", "validation:objective_loss"} <= set(
        metrics
    )
    assert metrics["validation:mse"] < 0.05
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"

    report = sagemaker.training_report("job-sharded")
    assert report is not None
    keys = [host.keys for host in report.hosts]
    assert keys == [(f"data/train/{year}.data",) for year in range(1979, 1984)]
    assert [host.rows for host in report.hosts] == [400] * 5
    assert any(kind == "training.epoch" for kind, _ in seen)


def test_replicated_hosts_each_read_every_object_and_take_longer_than_sharded(sagemaker: LocalSageMaker) -> None:
    sagemaker.handle("CreateTrainingJob", training_request("job-replicated", "FullyReplicated"))
    sagemaker.handle("CreateTrainingJob", training_request("job-sharded"))
    replicated = finished_job(sagemaker, "job-replicated")
    sharded = finished_job(sagemaker, "job-sharded")

    report = sagemaker.training_report("job-replicated")
    assert report is not None
    all_keys = tuple(f"data/train/{year}.data" for year in range(1979, 1984))
    assert [host.keys for host in report.hosts] == [all_keys] * 5
    assert replicated["TrainingTimeInSeconds"] > sharded["TrainingTimeInSeconds"]


def test_bad_hyperparameter_fails_the_job_with_a_client_error(sagemaker: LocalSageMaker) -> None:
    request = training_request("job-bad-hp")
    request["HyperParameters"]["learning_rat"] = "0.1"
    sagemaker.handle("CreateTrainingJob", request)
    job = finished_job(sagemaker, "job-bad-hp")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Additional hyperparameters are not allowed")
    assert "'learning_rat'" in job["FailureReason"]
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == ""
    assert_output_shape("DescribeTrainingJob", job)


def test_feature_dim_that_does_not_match_the_data_fails_the_job(sagemaker: LocalSageMaker) -> None:
    request = training_request("job-bad-dim")
    request["HyperParameters"]["feature_dim"] = "25"
    sagemaker.handle("CreateTrainingJob", request)
    job = finished_job(sagemaker, "job-bad-dim")
    assert job["TrainingJobStatus"] == "Failed"
    assert "feature_dim (25) does not match" in job["FailureReason"]


def test_stop_training_job_ends_stopped(aws: Any, registry: Registry) -> None:
    plane = LocalSageMaker(registry=registry, s3_client=aws, time_scale=1.0)  # Starting would last 90 s
    plane.handle("CreateTrainingJob", training_request("job-stop"))
    plane.handle("StopTrainingJob", {"TrainingJobName": "job-stop"})
    # Read from the transitions, not a Describe racing the job's thread (which may already have stopped it).
    job = finished_job(plane, "job-stop")
    assert job["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Stopping", "Stopped"]
    assert "FailureReason" not in job
    error = api_error(plane, "StopTrainingJob", {"TrainingJobName": "job-stop"})
    assert error.message == "The request was rejected because the training job is in status Stopped."
    plane.close()


def test_a_failing_listener_does_not_fail_the_job(sagemaker: LocalSageMaker) -> None:
    def broken(kind: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("display crashed")

    sagemaker.listener = broken
    sagemaker.handle("CreateTrainingJob", training_request("job-listener"))
    assert finished_job(sagemaker, "job-listener")["TrainingJobStatus"] == "Completed"


def test_max_runtime_of_simulated_time_stops_the_job(sagemaker: LocalSageMaker) -> None:
    sagemaker.handle("CreateTrainingJob", training_request("job-timeout", StoppingCondition={"MaxRuntimeInSeconds": 2}))
    job = finished_job(sagemaker, "job-timeout")
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert job["TrainingTimeInSeconds"] <= 2


def test_managed_spot_bills_less_and_reports_the_savings(sagemaker: LocalSageMaker) -> None:
    request = training_request(
        "job-spot",
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    )
    sagemaker.handle("CreateTrainingJob", request)
    job = finished_job(sagemaker, "job-spot")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]
    savings = (1 - job["BillableTimeInSeconds"] / job["TrainingTimeInSeconds"]) * 100
    assert 65 < savings <= 70  # 70 % off, billable seconds rounded up
    assert job["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        f"Training job completed. Managed spot training savings: {savings:.1f}%"
    )


def test_spot_job_whose_max_wait_runs_out_ends_max_wait_time_exceeded(sagemaker: LocalSageMaker) -> None:
    # The 90 simulated seconds of Starting count against MaxWaitTimeInSeconds, not MaxRuntimeInSeconds.
    request = training_request(
        "job-spot-wait",
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 50, "MaxWaitTimeInSeconds": 60},
    )
    sagemaker.handle("CreateTrainingJob", request)
    job = finished_job(sagemaker, "job-spot-wait")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (["validation"], "'train' is a required property"),
        (["train", "extra"], "Additional properties are not allowed ('extra'"),
    ],
)
def test_linear_learner_channel_rules_fail_the_job(
    sagemaker: LocalSageMaker, channels: list[str], expected: str
) -> None:
    request = training_request("job-channels")
    template = request["InputDataConfig"][0]
    request["InputDataConfig"] = [{**template, "ChannelName": name} for name in channels]
    sagemaker.handle("CreateTrainingJob", request)
    job = finished_job(sagemaker, "job-channels")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Unable to initialize the algorithm")
    assert expected in job["FailureReason"]


def test_spot_settings_are_checked_as_aws_does(sagemaker: LocalSageMaker) -> None:
    no_wait = training_request("job-spot-1", EnableManagedSpotTraining=True)
    assert "MaxWaitTimeInSeconds is required" in api_error(sagemaker, "CreateTrainingJob", no_wait).message
    wait_without_spot = training_request(
        "job-spot-2", StoppingCondition={"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}
    )
    assert "EnableManagedSpotTraining" in api_error(sagemaker, "CreateTrainingJob", wait_without_spot).message


def test_duplicate_and_missing_training_jobs_answer_as_aws(sagemaker: LocalSageMaker) -> None:
    sagemaker.handle("CreateTrainingJob", training_request("job-dup"))
    error = api_error(sagemaker, "CreateTrainingJob", training_request("job-dup"))
    assert error.code == "ResourceInUse"
    assert "training job with this name already exists" in error.message
    missing = api_error(sagemaker, "DescribeTrainingJob", {"TrainingJobName": "nope"})
    assert (missing.code, missing.message) == ("ValidationException", "Requested resource not found.")
    finished_job(sagemaker, "job-dup")


def test_empty_training_prefix_is_rejected_at_create(sagemaker: LocalSageMaker) -> None:
    request = training_request("job-empty")
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/nothing/here/"
    error = api_error(sagemaker, "CreateTrainingJob", request)
    assert error.code == "ValidationException"
    assert error.message.startswith(f'No S3 objects found under S3 URL "s3://{BUCKET}/nothing/here/"')


def test_non_linear_learner_image_is_rejected(sagemaker: LocalSageMaker) -> None:
    request = training_request("job-xgb")
    request["AlgorithmSpecification"]["TrainingImage"] = "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1"
    assert "linear-learner" in api_error(sagemaker, "CreateTrainingJob", request).message


def test_list_training_jobs_filters_sorts_and_pages(sagemaker: LocalSageMaker) -> None:
    for name in ("list-a", "list-b", "list-c"):
        sagemaker.handle("CreateTrainingJob", training_request(name))
    for name in ("list-a", "list-b", "list-c"):
        finished_job(sagemaker, name)
    first = sagemaker.handle("ListTrainingJobs", {"SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 2})
    assert_output_shape("ListTrainingJobs", first)
    assert [j["TrainingJobName"] for j in first["TrainingJobSummaries"]] == ["list-a", "list-b"]
    second = sagemaker.handle(
        "ListTrainingJobs",
        {"SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 2, "NextToken": first["NextToken"]},
    )
    assert [j["TrainingJobName"] for j in second["TrainingJobSummaries"]] == ["list-c"]
    assert "NextToken" not in second
    only_b = sagemaker.handle("ListTrainingJobs", {"NameContains": "-B", "StatusEquals": "Completed"})
    assert [j["TrainingJobName"] for j in only_b["TrainingJobSummaries"]] == ["list-b"]
    assert sagemaker.handle("ListTrainingJobs", {"StatusEquals": "Failed"})["TrainingJobSummaries"] == []


# ------------------------------------------------------------------------------------------------ hosting


def _trained_model(plane: LocalSageMaker, name: str) -> str:
    plane.handle("CreateTrainingJob", training_request(name))
    job = finished_job(plane, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    artifact: str = job["ModelArtifacts"]["S3ModelArtifacts"]
    return artifact


def _host(plane: LocalSageMaker, name: str, artifact: str) -> None:
    plane.handle(
        "CreateModel",
        {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": artifact}},
    )
    plane.handle(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InstanceType": "ml.m5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
        },
    )
    plane.handle("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": name})


def test_endpoint_goes_creating_in_service_deleting_gone(aws: Any, registry: Registry) -> None:
    plane = LocalSageMaker(registry=registry, s3_client=aws)
    artifact = _trained_model(plane, "host-me")
    plane.time_scale = 0.002  # Creating lasts 0.48 s, Deleting 0.02 s
    _host(plane, "host-me", artifact)
    assert plane.handle("DescribeEndpoint", {"EndpointName": "host-me"})["EndpointStatus"] == "Creating"
    described = wait_for(
        lambda: plane.handle("DescribeEndpoint", {"EndpointName": "host-me"}),
        lambda r: r["EndpointStatus"] != "Creating",
    )
    assert described["EndpointStatus"] == "InService"
    assert_output_shape("DescribeEndpoint", described)
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    np.testing.assert_allclose(registry.models["host-me"].weights, TRUE_WEIGHTS, atol=0.1)
    for operation, params in (
        ("DescribeModel", {"ModelName": "host-me"}),
        ("DescribeEndpointConfig", {"EndpointConfigName": "host-me"}),
        ("ListModels", {}),
        ("ListEndpointConfigs", {}),
        ("ListEndpoints", {"StatusEquals": "InService"}),
    ):
        assert_output_shape(operation, plane.handle(operation, params))
    assert plane.handle("ListEndpoints", {})["Endpoints"][0]["EndpointName"] == "host-me"

    plane.handle("DeleteEndpoint", {"EndpointName": "host-me"})
    assert plane.handle("DescribeEndpoint", {"EndpointName": "host-me"})["EndpointStatus"] == "Deleting"
    assert plane.wait_idle(10)
    gone = api_error(plane, "DescribeEndpoint", {"EndpointName": "host-me"})
    assert gone.message == f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/host-me".'
    assert "host-me" not in registry.models
    plane.handle("DeleteEndpointConfig", {"EndpointConfigName": "host-me"})
    plane.handle("DeleteModel", {"ModelName": "host-me"})
    assert plane.handle("ListModels", {})["Models"] == []
    assert plane.handle("ListEndpointConfigs", {})["EndpointConfigs"] == []
    assert plane.handle("ListEndpoints", {})["Endpoints"] == []
    plane.close()


def test_endpoint_fails_when_the_artifact_is_not_a_model(sagemaker: LocalSageMaker, aws: Any) -> None:
    aws.put_object(Bucket=BUCKET, Key="junk/model.tar.gz", Body=b"not a tarball")
    _host(sagemaker, "junk", f"s3://{BUCKET}/junk/model.tar.gz")
    _host(sagemaker, "absent", f"s3://{BUCKET}/absent/model.tar.gz")
    assert sagemaker.wait_idle(10)
    junk = sagemaker.handle("DescribeEndpoint", {"EndpointName": "junk"})
    assert junk["EndpointStatus"] == "Failed"
    assert junk["FailureReason"].startswith('Failed to extract model data archive from URL "s3://')
    absent = sagemaker.handle("DescribeEndpoint", {"EndpointName": "absent"})
    assert absent["EndpointStatus"] == "Failed"
    assert absent["FailureReason"].startswith("Failed to download model data(bucket: shardlab-test, key: absent/")


def test_hosting_duplicates_and_missing_references_answer_as_aws(sagemaker: LocalSageMaker) -> None:
    model = {"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": IMAGE}}
    sagemaker.handle("CreateModel", model)
    assert api_error(sagemaker, "CreateModel", model).message == (
        f'Cannot create already existing model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/m".'
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "other", "InstanceType": "ml.m5.xlarge"}
    config = {"EndpointConfigName": "c", "ProductionVariants": [{**variant, "InitialInstanceCount": 1}]}
    assert api_error(sagemaker, "CreateEndpointConfig", config).message == (
        f'Could not find model "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/other".'
    )
    config["ProductionVariants"][0]["ModelName"] = "m"
    sagemaker.handle("CreateEndpointConfig", config)
    assert "Cannot create already existing endpoint configuration" in (
        api_error(sagemaker, "CreateEndpointConfig", config).message
    )
    missing_config = api_error(sagemaker, "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "nope"})
    assert missing_config.message == (
        f'Could not find endpoint configuration "arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint-config/nope".'
    )
    sagemaker.handle("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert "Cannot create already existing endpoint" in (
        api_error(sagemaker, "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"}).message
    )
    for operation, params in (
        ("DeleteModel", {"ModelName": "gone"}),
        ("DescribeModel", {"ModelName": "gone"}),
        ("DeleteEndpointConfig", {"EndpointConfigName": "gone"}),
        ("DeleteEndpoint", {"EndpointName": "gone"}),
    ):
        error = api_error(sagemaker, operation, params)
        assert error.code == "ValidationException"
        assert error.message.startswith("Could not find")


# ------------------------------------------------------------------------------------------------ tags


def test_tags_add_list_delete(sagemaker: LocalSageMaker) -> None:
    arn = sagemaker.handle(
        "CreateModel",
        {
            "ModelName": "tagged",
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": IMAGE},
            "Tags": [{"Key": "project", "Value": "shardlab"}],
        },
    )["ModelArn"]
    added = sagemaker.handle("AddTags", {"ResourceArn": arn, "Tags": [{"Key": "run", "Value": "r1"}]})
    assert_output_shape("AddTags", added)
    listed = sagemaker.handle("ListTags", {"ResourceArn": arn})
    assert_output_shape("ListTags", listed)
    assert listed["Tags"] == [{"Key": "project", "Value": "shardlab"}, {"Key": "run", "Value": "r1"}]
    sagemaker.handle("DeleteTags", {"ResourceArn": arn, "TagKeys": ["project"]})
    assert sagemaker.handle("ListTags", {"ResourceArn": arn})["Tags"] == [{"Key": "run", "Value": "r1"}]
    unknown = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/none"
    assert api_error(sagemaker, "ListTags", {"ResourceArn": unknown}).code == "ValidationException"


# ------------------------------------------------------------------------------------------------ validation

VALID_REQUESTS: dict[str, dict[str, Any]] = {
    "CreateTrainingJob": training_request("valid-job"),
    "DescribeTrainingJob": {"TrainingJobName": "x"},
    "StopTrainingJob": {"TrainingJobName": "x"},
    "ListTrainingJobs": {},
    "CreateTransformJob": {
        "TransformJobName": "x", "ModelName": "x",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/t/"}}},
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    },
    "DescribeTransformJob": {"TransformJobName": "x"},
    "StopTransformJob": {"TransformJobName": "x"},
    "ListTransformJobs": {},
    "CreateModel": {"ModelName": "x", "PrimaryContainer": {"Image": IMAGE}},
    "DescribeModel": {"ModelName": "x"},
    "DeleteModel": {"ModelName": "x"},
    "ListModels": {},
    "CreateEndpointConfig": {
        "EndpointConfigName": "x",
        "ProductionVariants": [{"VariantName": "v", "ModelName": "x", "InstanceType": "ml.m5.xlarge"}],
    },
    "DescribeEndpointConfig": {"EndpointConfigName": "x"},
    "DeleteEndpointConfig": {"EndpointConfigName": "x"},
    "ListEndpointConfigs": {},
    "CreateEndpoint": {"EndpointName": "x", "EndpointConfigName": "x"},
    "DescribeEndpoint": {"EndpointName": "x"},
    "DeleteEndpoint": {"EndpointName": "x"},
    "ListEndpoints": {},
    "AddTags": {"ResourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/x", "Tags": []},
    "ListTags": {"ResourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/x"},
    "DeleteTags": {"ResourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:model/x", "TagKeys": ["k"]},
}


def test_every_supported_operation_has_a_valid_request_fixture() -> None:
    assert set(VALID_REQUESTS) == set(SUPPORTED_OPERATIONS)
    for operation, request in VALID_REQUESTS.items():
        report = ParamValidator().validate(request, SERVICE.operation_model(operation).input_shape)
        assert not report.has_errors(), (operation, report.generate_report())


@pytest.mark.parametrize("operation", SUPPORTED_OPERATIONS)
def test_every_operation_rejects_an_unknown_member(offline: LocalSageMaker, operation: str) -> None:
    error = api_error(offline, operation, {**VALID_REQUESTS[operation], "Bogus": 1})
    assert error.code == "ValidationException"
    assert "'Bogus'" in error.message
    assert error.message.startswith("1 validation error detected")


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        (
            "DescribeTrainingJob",
            {},
            "Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null",
        ),
        (
            "CreateTrainingJob",
            {**training_request("bad_name")},
            "Value 'bad_name' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern",
        ),
        (
            "CreateTrainingJob",
            training_request("x", ResourceConfig={"InstanceCount": "5", "InstanceType": "ml.c5.2xlarge"}),
            "Value '5' at 'resourceConfig.instanceCount' failed to satisfy constraint: Member must be of type integer",
        ),
        (
            "CreateTrainingJob",
            training_request("x", ResourceConfig={"InstanceCount": -1, "InstanceType": "ml.c5.2xlarge"}),
            "Value '-1' at 'resourceConfig.instanceCount' failed to satisfy constraint: Member must have value "
            "greater than or equal to 0",
        ),
        (
            "CreateTrainingJob",
            training_request("x", ResourceConfig={"InstanceCount": 0, "InstanceType": "ml.c5.2xlarge"}),
            "ResourceConfig.InstanceCount must be at least 1",
        ),
        (
            "CreateTrainingJob",
            training_request("x", ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.nope.huge"}),
            "Value 'ml.nope.huge' at 'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy "
            "enum value set",
        ),
        (
            "DescribeModel",
            {"ModelName": "m" * 64},
            "at 'modelName' failed to satisfy constraint: Member must have length less than or equal to 63",
        ),
        (
            "ListEndpoints",
            {"MaxResults": 101},
            "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal "
            "to 100",
        ),
        (
            "ListTrainingJobs",
            {"CreationTimeAfter": "not a time"},
            "at 'creationTimeAfter' failed to satisfy constraint: Member must be of type timestamp",
        ),
        (
            "CreateTrainingJob",
            {
                **training_request("x"),
                "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k"}}}],
            },
            "Value null at 'inputDataConfig.1.member.dataSource.s3DataSource.s3DataType'",
        ),
    ],
)
def test_invalid_fields_are_a_validation_exception_worded_as_aws(
    offline: LocalSageMaker, operation: str, params: dict[str, Any], expected: str
) -> None:
    error = api_error(offline, operation, params)
    assert error.code == "ValidationException"
    assert error.status_code == 400
    assert expected in error.message


def test_json_decoded_timestamps_are_accepted(sagemaker: LocalSageMaker) -> None:
    # boto3's JSON protocol sends timestamps as epoch seconds.
    assert sagemaker.handle("ListTrainingJobs", {"CreationTimeAfter": 1_700_000_000})["TrainingJobSummaries"] == []


def test_unsupported_operation_is_named(offline: LocalSageMaker) -> None:
    assert "CreateNotebookInstance" in api_error(offline, "CreateNotebookInstance", {}).message


# ------------------------------------------------------------------------------------------------ faults


def test_injected_training_failure(aws: Any, registry: Registry) -> None:
    plane = LocalSageMaker(
        registry=registry, s3_client=aws, faults=FaultPlan(training_failures={"*-sharded": "AlgorithmError: boom"})
    )
    plane.handle("CreateTrainingJob", training_request("run-sharded"))
    plane.handle("CreateTrainingJob", training_request("run-replicated", "FullyReplicated"))
    assert finished_job(plane, "run-sharded")["FailureReason"] == "AlgorithmError: boom"
    assert finished_job(plane, "run-replicated")["TrainingJobStatus"] == "Completed"
    plane.close()


def test_injected_endpoint_failure(aws: Any, registry: Registry) -> None:
    plane = LocalSageMaker(
        registry=registry, s3_client=aws, faults=FaultPlan(endpoint_failures={"bad-*": "Injected: no capacity"})
    )
    artifact = _trained_model(plane, "bad-endpoint")
    _host(plane, "bad-endpoint", artifact)
    assert plane.wait_idle(10)
    described = plane.handle("DescribeEndpoint", {"EndpointName": "bad-endpoint"})
    assert (described["EndpointStatus"], described["FailureReason"]) == ("Failed", "Injected: no capacity")
    assert "bad-endpoint" not in registry.models
    plane.close()


def test_injected_throttling_answers_n_times_then_succeeds(aws: Any) -> None:
    plane = LocalSageMaker(s3_client=aws, faults=FaultPlan(throttle={"Create*": 2}))
    model = {"ModelName": "m", "PrimaryContainer": {"Image": IMAGE}}
    for _ in range(2):
        error = api_error(plane, "CreateModel", model)
        assert (error.code, error.message) == ("ThrottlingException", "Rate exceeded")
    assert plane.handle("CreateModel", model)["ModelArn"].endswith(":model/m")
    assert plane.handle("ListModels", {})["Models"][0]["ModelName"] == "m"


# ------------------------------------------------------------------------------------------------ over HTTP


def test_boto3_drives_the_control_plane_through_the_local_server(aws: Any) -> None:
    from local.hosting import EndpointRegistry
    from local.server import LocalSageMakerServer

    hosting = EndpointRegistry()
    plane = LocalSageMaker(registry=hosting, s3_client=aws)
    with LocalSageMakerServer(registry=hosting, control_plane=plane) as server:
        client = boto3.client("sagemaker", region_name=REGION, endpoint_url=server.url)
        runtime = boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=server.url)
        client.create_training_job(**training_request("http-job"))
        job = wait_for(
            lambda: client.describe_training_job(TrainingJobName="http-job"),
            lambda r: r["TrainingJobStatus"] != "InProgress",
        )
        assert job["TrainingJobStatus"] == "Completed"
        assert job["TrainingEndTime"] > job["TrainingStartTime"]  # timestamps made the round trip
        _host(plane, "http-job", job["ModelArtifacts"]["S3ModelArtifacts"])
        wait_for(
            lambda: client.describe_endpoint(EndpointName="http-job"),
            lambda r: r["EndpointStatus"] == "InService",
        )
        answer = runtime.invoke_endpoint(EndpointName="http-job", ContentType="text/csv", Body="1,0,0,0")
        score = json.loads(answer["Body"].read())["predictions"][0]["score"]
        assert score == pytest.approx(TRUE_WEIGHTS[0] + 1.0, abs=0.2)
        with pytest.raises(client.exceptions.ClientError) as caught:
            client.describe_training_job(TrainingJobName="missing")
        assert caught.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": "Requested resource not found.",
        }
    plane.close()


def test_training_and_hosting_write_sagemakers_log_groups_and_streams(aws: Any, registry: Registry) -> None:
    """As SageMaker: a stream per host in the shared TrainingJobs group, a group per endpoint; none deleted."""
    logs = boto3.client("logs", region_name=REGION)
    plane = LocalSageMaker(registry=registry, s3_client=aws, logs_client=logs)
    request = training_request("logged-job")
    request["ResourceConfig"]["InstanceCount"] = 2
    plane.handle("CreateTrainingJob", request)
    job = finished_job(plane, "logged-job")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")["logStreams"]
    names = sorted(s["logStreamName"] for s in streams)
    assert [re.sub(r"^logged-job/algo-(\d)-\d{10}$", r"\1", n) for n in names] == ["1", "2"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=names[0])["events"]
    assert events and events[0]["message"]

    _host(plane, "logged-job", job["ModelArtifacts"]["S3ModelArtifacts"])
    assert wait_for(lambda: plane.handle("DescribeEndpoint", {"EndpointName": "logged-job"}),
                    lambda r: r["EndpointStatus"] != "Creating")["EndpointStatus"] == "InService"
    endpoint = logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/logged-job")["logStreams"]
    assert [re.fullmatch(r"AllTraffic/i-[0-9a-f]{17}", s["logStreamName"]) is not None for s in endpoint] == [True]
    plane.handle("DeleteEndpoint", {"EndpointName": "logged-job"})
    assert plane.wait_idle(10)
    # SageMaker leaves both behind when the endpoint is gone: deleting them is the clean-up's job.
    groups = {g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]}
    assert groups == {"/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints/logged-job"}
    plane.close()
