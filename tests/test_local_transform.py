"""The local SageMaker's batch transform jobs: Create/Describe/Stop/List validated against botocore (requests and
answers), the endpoints' container code behind them, SageMaker's output naming, and its failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from test_local_control_plane import (
    BUCKET,
    IMAGE,
    ROLE,
    _recordio,
    _trained_model,
    api_error,
    assert_output_shape,
    wait_for,
)

from lambdas.lambda_common.vocabulary import JSONLINES, RECORDIO_PROTOBUF
from local.hosting import invoke
from local.linear_model import LinearModel
from local.sagemaker.control_plane import LocalSageMaker
from local.sagemaker.faults import FaultPlan
from local.sagemaker.transform_job import assemble, mini_batches, split_records

pytest_plugins = ["test_local_control_plane"]  # its aws / registry fixtures


@pytest.fixture
def plane(aws: Any) -> Iterator[LocalSageMaker]:
    sagemaker = LocalSageMaker(s3_client=aws)
    yield sagemaker
    assert sagemaker.shutdown()


@pytest.fixture
def model(plane: LocalSageMaker, aws: Any) -> str:
    artifact = _trained_model(plane, "scorer")
    plane.handle("CreateModel", {"ModelName": "scorer", "ExecutionRoleArn": ROLE,
                                 "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": artifact}})
    for part in range(3):
        aws.put_object(Bucket=BUCKET, Key=f"data/test/1984-{part:02d}.data", Body=_recordio(700 + part, 1984 + part))
    return artifact


def transform_request(name: str, **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": "scorer",
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 1,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/test/"}},
            "ContentType": RECORDIO_PROTOBUF,
            "SplitType": "RecordIO",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/runs/r1/transform/{name}", "Accept": JSONLINES,
                            "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "Tags": [{"Key": "shardlab:stack", "Value": "shardlab"}],
    }
    request.update(overrides)
    return request


def finished(plane: LocalSageMaker, name: str) -> dict[str, Any]:
    return wait_for(lambda: plane.handle("DescribeTransformJob", {"TransformJobName": name}),
                    lambda r: r["TransformJobStatus"] in ("Completed", "Failed", "Stopped"))


def test_a_transform_job_scores_every_object_in_record_order_as_the_endpoint_does(
    plane: LocalSageMaker, model: str, aws: Any
) -> None:
    created = plane.handle("CreateTransformJob", transform_request("tj"))
    assert_output_shape("CreateTransformJob", created)
    job = finished(plane, "tj")  # (a small job may already be done: InProgress is checked on a held job below)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert_output_shape("DescribeTransformJob", job)
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    served = LinearModel.from_tar_gz(aws.get_object(Bucket=BUCKET, Key=model.split("/", 3)[3])["Body"].read())
    for part in range(3):
        # SageMaker's naming: <S3OutputPath>/<key below the input prefix>.out
        body = aws.get_object(Bucket=BUCKET, Key=f"runs/r1/transform/tj/1984-{part:02d}.data.out")["Body"].read()
        scores = [json.loads(line)["score"] for line in body.decode().splitlines()]
        expected, _ = invoke(served, RECORDIO_PROTOBUF, JSONLINES, _recordio(700 + part, 1984 + part))
        assert body == expected  # one line per record, in order: what one endpoint invocation answers
        assert len(scores) == 700 + part
    listed = plane.handle("ListTransformJobs", {"StatusEquals": "Completed", "NameContains": "T"})
    assert_output_shape("ListTransformJobs", listed)
    assert [j["TransformJobName"] for j in listed["TransformJobSummaries"]] == ["tj"]
    tags = plane.handle("ListTags", {"ResourceArn": created["TransformJobArn"]})["Tags"]
    assert tags == [{"Key": "shardlab:stack", "Value": "shardlab"}]


def test_stop_transform_job_ends_stopped_and_writes_nothing(aws: Any, model: str) -> None:
    plane = LocalSageMaker(s3_client=aws, faults=FaultPlan(slow_transforms={"slow-*": 30.0}))
    try:
        plane.handle("CreateModel", {"ModelName": "scorer", "ExecutionRoleArn": ROLE,
                                     "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": model}})
        plane.handle("CreateTransformJob", transform_request("slow-job"))
        running = plane.handle("DescribeTransformJob", {"TransformJobName": "slow-job"})
        assert running["TransformJobStatus"] == "InProgress"  # held for 30 s by the fault plan
        assert_output_shape("DescribeTransformJob", running)
        assert plane.handle("StopTransformJob", {"TransformJobName": "slow-job"}) == {}
        assert plane.handle("DescribeTransformJob", {"TransformJobName": "slow-job"})["TransformJobStatus"] in (
            "Stopping", "Stopped")
        job = finished(plane, "slow-job")
        assert job["TransformJobStatus"] == "Stopped"
        assert_output_shape("DescribeTransformJob", job)
        assert aws.list_objects_v2(Bucket=BUCKET, Prefix="runs/r1/transform/slow-job")["KeyCount"] == 0
        again = api_error(plane, "StopTransformJob", {"TransformJobName": "slow-job"})
        assert again.code == "ValidationException" and "status Stopped" in again.message
    finally:
        assert plane.shutdown()


def test_transform_failures_answer_as_aws(plane: LocalSageMaker, model: str) -> None:
    missing_model = api_error(plane, "CreateTransformJob", transform_request("m", ModelName="absent"))
    assert missing_model.message.startswith('Could not find model "arn:aws:sagemaker:')
    missing_job = api_error(plane, "DescribeTransformJob", {"TransformJobName": "never"})
    assert missing_job.code == "ValidationException" and "Could not find" in missing_job.message
    plane.handle("CreateTransformJob", transform_request("dup"))
    assert api_error(plane, "CreateTransformJob", transform_request("dup")).code == "ResourceInUse"
    bad_enum = api_error(plane, "CreateTransformJob", transform_request(
        "e", TransformInput={**transform_request("e")["TransformInput"], "SplitType": "Records"}))
    assert "Member must satisfy enum value set" in bad_enum.message
    plane.faults = FaultPlan(transform_failures={"fails": "ClientError: injected"})
    plane.handle("CreateTransformJob", transform_request("fails"))
    empty = transform_request("empty")
    empty["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/nothing/"
    plane.handle("CreateTransformJob", empty)
    csv = transform_request("csv")
    csv["TransformInput"]["ContentType"] = "text/csv"
    plane.handle("CreateTransformJob", csv)  # recordIO bytes are not CSV: the container refuses them
    for name, reason in (("fails", "ClientError: injected"), ("empty", "No S3 objects found under S3 URL"),
                         ("csv", "the model container answered 400")):
        job = finished(plane, name)
        assert job["TransformJobStatus"] == "Failed" and reason in job["FailureReason"], job
        assert_output_shape("DescribeTransformJob", job)


def test_split_batch_and_assemble_follow_the_request() -> None:
    records = split_records(_recordio(10, 1), "RecordIO")
    assert len(records) == 10 and b"".join(records) == _recordio(10, 1)
    batches = list(mini_batches(records, max_bytes=3 * len(records[0]), single_record=False))
    assert [len(b) // len(records[0]) for b in batches] == [3, 3, 3, 1]
    assert len(list(mini_batches(records, max_bytes=2**20, single_record=True))) == 10
    assert split_records(b"a\nb\n\n", "Line") == [b"a\n", b"b\n"]
    assert assemble([b'{"score": 1}\n{"score": 2}\n', b'{"score": 3}'], "Line") == (
        b'{"score": 1}\n{"score": 2}\n{"score": 3}\n')
    assert assemble([b"ab", b"c"], "None") == b"abc"
    np.testing.assert_array_equal(np.frombuffer(records[0][:4], dtype="<u4"), [0xCED7230A])


def test_create_transform_job_over_quota_answers_resource_limit_exceeded(aws: Any, model: str) -> None:
    """Running transform jobs hold their instances against '<type> for transform job usage' (a sweep runs 2 per
    point at once; the pre-flight's concurrency keeps them inside it)."""
    quota = "ml.m5.xlarge for transform job usage"
    plane = LocalSageMaker(s3_client=aws, quotas={quota: 2}, faults=FaultPlan(slow_transforms={"slow-*": 30.0}))
    try:
        plane.handle("CreateModel", {"ModelName": "scorer", "ExecutionRoleArn": ROLE,
                                     "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": model}})
        for name in ("slow-1", "slow-2"):
            plane.handle("CreateTransformJob", transform_request(name))
        refused = api_error(plane, "CreateTransformJob", transform_request("slow-3"))
        assert (refused.code, refused.message) == ("ResourceLimitExceeded", (
            f"The account-level service limit '{quota}' is 2 Instances, with current utilization of 2 Instances and "
            "a request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this quota."))
        assert "slow-3" not in str(plane.handle("ListTransformJobs", {}))
        other_type = transform_request("slow-4", TransformResources={"InstanceType": "ml.m4.xlarge",
                                                                     "InstanceCount": 1})
        plane.handle("CreateTransformJob", other_type)  # another type's quota
        plane.handle("StopTransformJob", {"TransformJobName": "slow-1"})
        assert finished(plane, "slow-1")["TransformJobStatus"] == "Stopped"
        plane.handle("CreateTransformJob", transform_request("slow-3"))  # the stopped job freed its instance
        for name in ("slow-2", "slow-3", "slow-4"):
            plane.handle("StopTransformJob", {"TransformJobName": name})
            finished(plane, name)
    finally:
        assert plane.shutdown()
