"""Local answers held to AWS's models: STRICT rules (local.aws_models), and a completed job's AWS members."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from test_local_control_plane import aws, finished_job, registry, sagemaker, training_request  # noqa: F401

from lambdas.lambda_common.vocabulary import TRAINING_LOG_GROUP
from local.aws_models import input_errors, strict_errors
from local.sagemaker.algorithm_metrics import METRICS_NAMESPACE
from local.sagemaker.control_plane import LocalSageMaker
from local.service_quotas import LocalServiceQuotas


def test_strict_rules_catch_unknown_missing_mistyped_and_out_of_enum_members() -> None:
    answer = {
        "EndpointName": "e",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
        "EndpointConfigName": "c",
        "EndpointStatus": "InService",
        "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        "LastModifiedTime": 1767225600.5,
    }
    assert strict_errors("sagemaker", "DescribeEndpoint", answer) == []
    broken = {**answer, "EndpointStatus": "Ready", "Extra": 1, "CreationTime": "yesterday"}
    del broken["EndpointArn"]
    errors = strict_errors("sagemaker", "DescribeEndpoint", broken)
    assert any("EndpointStatus: 'Ready' is not one of" in error for error in errors)
    assert any("$.Extra: unknown member" in error for error in errors)
    assert any("$.EndpointArn: required member" in error for error in errors)
    assert any("$.CreationTime: expected a timestamp" in error for error in errors)
    nested = {"TrainingJobArn": "a", "ModelArtifacts": {"S3ModelArtifacts": 3}}
    assert "$.ModelArtifacts.S3ModelArtifacts: expected a string (S3Uri), got int" in strict_errors(
        "sagemaker", "DescribeTrainingJob", nested
    )
    assert input_errors("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "j"}) == []
    assert input_errors("sagemaker", "DescribeTrainingJob", {}) != []


def test_completed_linear_learner_job_carries_the_members_aws_returns(sagemaker: LocalSageMaker) -> None:  # noqa: F811
    sagemaker.handle("CreateTrainingJob", training_request("job-members", HyperParameters={
        **training_request("x")["HyperParameters"], "epochs": "3", "num_models": "2"}))
    job = finished_job(sagemaker, "job-members")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert strict_errors("sagemaker", "DescribeTrainingJob", job) == []
    assert job["OutputDataConfig"]["KmsKeyId"] == ""
    assert job["OutputDataConfig"]["CompressionType"] == "GZIP"
    names = {definition["Name"] for definition in job["AlgorithmSpecification"]["MetricDefinitions"]}
    assert {"train:objective_loss", "validation:objective_loss", "validation:mse", "test:mse"} <= names
    assert job["ProfilingStatus"] == "Disabled"
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"] > 0
    assert job["SecondaryStatusTransitions"][-1]["Status"] == "Completed"
    final = {metric["MetricName"] for metric in job["FinalMetricDataList"]}
    assert final <= names  # AWS reports only what the definitions match
    assert {"validation:mse", "validation:objective_loss", "train:objective_loss"} <= final


def test_metric_definitions_find_every_final_metric_in_the_jobs_log_stream(
    sagemaker: LocalSageMaker, aws: Any  # noqa: F811
) -> None:
    sagemaker.handle("CreateTrainingJob", training_request("job-logs", HyperParameters={
        **training_request("x")["HyperParameters"], "epochs": "3", "num_models": "2"}))
    job = finished_job(sagemaker, "job-logs")
    streams = sagemaker.logs.describe_log_streams(logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix="job-logs/")
    first = sorted(s["logStreamName"] for s in streams["logStreams"])[0]
    assert re.fullmatch(r"job-logs/algo-1-\d+", first)
    events = sagemaker.logs.get_log_events(logGroupName=TRAINING_LOG_GROUP, logStreamName=first)["events"]
    text = [event["message"] for event in events]
    assert all(re.match(r"\[\d\d/\d\d/\d{4} \d\d:\d\d:\d\d INFO \d+\] ", line) for line in text)
    definitions = {d["Name"]: d["Regex"] for d in job["AlgorithmSpecification"]["MetricDefinitions"]}
    for metric in job["FinalMetricDataList"]:
        found = [m.group(1) for line in text if (m := re.search(definitions[metric["MetricName"]], line))]
        assert found, metric["MetricName"]
        assert float(found[-1]) == pytest.approx(metric["Value"]), metric["MetricName"]
    epochs = [line for line in text if "epoch=" in line and "train mse_objective" in line]
    assert len(epochs) == 3
    points = sagemaker.cloudwatch.get_metric_statistics(
        Namespace=METRICS_NAMESPACE,
        MetricName="validation:mse",
        Dimensions=[{"Name": "TrainingJobName", "Value": "job-logs"}],
        StartTime=job["TrainingStartTime"],
        EndTime=job["TrainingEndTime"] + datetime.timedelta(minutes=1),
        Period=60,
        Statistics=["Average"],
    )["Datapoints"]
    final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert [point["Average"] for point in points] == [pytest.approx(final["validation:mse"])]


def test_service_quotas_answers_are_strictly_valid() -> None:
    quotas = LocalServiceQuotas(None)
    listed = quotas.handle("ListServiceQuotas", {"ServiceCode": "sagemaker"})
    assert strict_errors("service-quotas", "ListServiceQuotas", listed) == []
    code = listed["Quotas"][0]["QuotaCode"]
    for operation in ("GetServiceQuota", "ListAWSDefaultServiceQuotas"):
        params = {"ServiceCode": "sagemaker", **({"QuotaCode": code} if operation == "GetServiceQuota" else {})}
        assert strict_errors("service-quotas", operation, quotas.handle(operation, params)) == []
