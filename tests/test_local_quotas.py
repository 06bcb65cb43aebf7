"""Local mode's SageMaker instance quotas: the local SageMaker refuses CreateTrainingJob / CreateEndpoint over
a quota with ResourceLimitExceeded worded as AWS does (no pre-flight involved), and serves the same values as
Service Quotas, through boto3, with pagination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto_helpers import mocked_s3
from test_local_control_plane import BUCKET, finished_job, training_request

from local.fake_aws import ACCOUNT_ID, REGION
from local.hosting import EndpointRegistry
from local.sagemaker.control_plane import LocalSageMaker
from local.sagemaker.faults import FaultPlan
from local.server import LocalSageMakerServer
from local.service_quotas import ENDPOINT_TOTAL, TRAINING_TOTAL, LocalServiceQuotas, quota_code

C5 = "ml.c5.2xlarge for training job usage"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_s3(monkeypatch, BUCKET) as s3:
        for channel in ("train", "validation"):
            s3.put_object(Bucket=BUCKET, Key=f"data/{channel}/1979.data", Body=b"")
        yield s3


def served(plane: LocalSageMaker) -> tuple[LocalSageMakerServer, Any, Any]:
    server = LocalSageMakerServer(registry=EndpointRegistry(), control_plane=plane)
    server.start()
    sagemaker = boto3.client("sagemaker", endpoint_url=server.url, region_name=REGION)
    quotas = boto3.client("service-quotas", endpoint_url=server.url, region_name=REGION)
    return server, sagemaker, quotas


def refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_create_training_job_over_quota_answers_resource_limit_exceeded_as_aws(aws: Any) -> None:
    plane = LocalSageMaker(s3_client=aws, quotas={C5: 4},
                           faults=FaultPlan(slow_training={"first": 30.0, "second": 30.0}))
    server, sagemaker, _ = served(plane)
    try:
        with pytest.raises(ClientError) as refused:
            sagemaker.create_training_job(**training_request("too-big"))  # 5 instances
        assert refusal(refused) == ("ResourceLimitExceeded", (
            "The account-level service limit 'ml.c5.2xlarge for training job usage' is 4 Instances, with current "
            "utilization of 0 Instances and a request delta of 5 Instances. Please use AWS Service Quotas to "
            "request an increase for this quota."))
        assert "too-big" not in str(sagemaker.list_training_jobs()["TrainingJobSummaries"])

        # Running jobs count: 3 held + 2 asked > 4; after the first stops, the same request fits.
        small = {"InstanceCount": 3, "InstanceType": "ml.c5.2xlarge", "VolumeSizeInGB": 10}
        sagemaker.create_training_job(**training_request("first", ResourceConfig=small))
        two = {**small, "InstanceCount": 2}
        with pytest.raises(ClientError) as refused:
            sagemaker.create_training_job(**training_request("second", ResourceConfig=two))
        assert "current utilization of 3 Instances and a request delta of 2 Instances" in refusal(refused)[1]
        sagemaker.stop_training_job(TrainingJobName="first")
        assert finished_job(plane, "first")["TrainingJobStatus"] == "Stopped"
        sagemaker.create_training_job(**training_request("second", ResourceConfig=two))
        # The account-wide quota applies too, and spot jobs count against their own quotas.
        plane.quotas.set(TRAINING_TOTAL, 1)
        with pytest.raises(ClientError) as refused:
            sagemaker.create_training_job(**training_request("third", ResourceConfig={**small, "InstanceCount": 1}))
        assert f"'{TRAINING_TOTAL}' is 1 Instances" in refusal(refused)[1]
        spot = training_request("spot", ResourceConfig=small, EnableManagedSpotTraining=True,
                                StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600})
        sagemaker.create_training_job(**spot)
    finally:
        server.stop()
        plane.shutdown()


def test_create_endpoint_over_quota_answers_resource_limit_exceeded(aws: Any) -> None:
    plane = LocalSageMaker(s3_client=aws, quotas={"ml.m5.xlarge for endpoint usage": 1},
                           faults=FaultPlan(slow_endpoints={"e1": 30.0}))
    server, sagemaker, _ = served(plane)
    try:
        sagemaker.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/r",
                               PrimaryContainer={"Image": "i", "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"})
        for name in ("e1", "e2"):
            sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge"}])
        sagemaker.create_endpoint(EndpointName="e1", EndpointConfigName="e1")
        with pytest.raises(ClientError) as refused:
            sagemaker.create_endpoint(EndpointName="e2", EndpointConfigName="e2")
        assert refusal(refused) == ("ResourceLimitExceeded", (
            "The account-level service limit 'ml.m5.xlarge for endpoint usage' is 1 Instances, with current "
            "utilization of 1 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to "
            "request an increase for this quota."))
        assert [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]] == ["e1"]
    finally:
        server.stop()
        plane.shutdown()


def test_the_same_values_are_served_as_service_quotas_with_pagination(aws: Any) -> None:
    plane = LocalSageMaker(s3_client=aws, quotas={C5: 4})
    server, _, quotas = served(plane)
    try:
        pages = list(quotas.get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker"))
        assert len(pages) > 1
        listed = {q["QuotaName"]: q for page in pages for q in page["Quotas"]}
        assert listed[C5]["Value"] == 4 and listed[C5]["QuotaCode"] == quota_code(C5)
        assert listed[ENDPOINT_TOTAL]["Value"] == LocalServiceQuotas.default(ENDPOINT_TOTAL)
        assert "ml.m5.xlarge for endpoint usage" in listed
        assert "ml.c5.2xlarge for spot training job usage" in listed
        plane.quotas.set(C5, 12)
        assert quotas.get_service_quota(ServiceCode="sagemaker", QuotaCode=quota_code(C5))["Quota"]["Value"] == 12
        defaults = {q["QuotaName"]: q["Value"] for page in quotas.get_paginator("list_aws_default_service_quotas")
                    .paginate(ServiceCode="sagemaker") for q in page["Quotas"]}
        assert defaults[C5] == LocalServiceQuotas.default(C5)
        with pytest.raises(ClientError) as refused:
            quotas.list_service_quotas(ServiceCode="ec2")
        assert refused.value.response["Error"]["Code"] == "NoSuchResourceException"
    finally:
        server.stop()
        plane.shutdown()


def test_unknown_quota_names_are_refused() -> None:
    with pytest.raises(ValueError, match="not SageMaker quota names"):
        LocalServiceQuotas({"ml.c5.2xlarge for training usage": 1})
