"""Formats Linear Learner documents, in local mode: recordIO-protobuf answers, sparse JSON, ManifestFile channels."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from sagemaker.amazon.common import read_records

from lambdas.lambda_common.recordio import encode_record
from local.channels import channel_objects, download_channels
from local.errors import TrainingFailedError
from local.fake_aws import REGION
from local.hosting import ModelContainerError, invoke
from local.linear_model import LinearModel

MODEL = LinearModel(weights=np.array([0.5, -2.0, 1.25]), bias=0.75)


def test_recordio_protobuf_answer_is_what_the_sdks_record_deserializer_reads() -> None:
    answer, content_type = invoke(MODEL, "text/csv", "application/x-recordio-protobuf", b"1,2,3\n0,0,0\n")
    assert content_type == "application/x-recordio-protobuf"
    records = read_records(io.BytesIO(answer))  # the SageMaker SDK's own protobuf reader
    assert [list(r.label) for r in records] == [["score"], ["score"]]
    assert [r.label["score"].float32_tensor.values[0] for r in records] == pytest.approx([0.5 - 4 + 3.75 + 0.75, 0.75])


def test_sparse_json_instances_score_as_their_dense_rows() -> None:
    sparse = {"instances": [{"data": {"features": {"keys": [0, 2], "shape": [3], "values": [1.0, 3.0]}}}]}
    answer, _ = invoke(MODEL, "application/json", "application/json", json.dumps(sparse).encode())
    dense, _ = invoke(MODEL, "text/csv", "application/json", b"1,0,3")
    assert json.loads(answer) == json.loads(dense)


@pytest.mark.parametrize(
    ("features", "wording"),
    [
        ({"keys": [3], "shape": [3], "values": [1.0]}, "sparse key 3 is not an index below the shape 3"),
        ({"keys": [0, 1], "shape": [3], "values": [1.0]}, '"keys" and "values" lists of the same length'),
        ({"keys": [0], "values": [1.0]}, 'a sparse instance needs "shape": [<feature count>]'),
    ],
)
def test_malformed_sparse_json_is_refused_naming_what_is_wrong(features: dict[str, Any], wording: str) -> None:
    body = json.dumps({"instances": [{"data": {"features": features}}]}).encode()
    with pytest.raises(ModelContainerError) as refused:
        invoke(MODEL, "application/json", None, body)
    assert refused.value.original_status_code == 400 and wording in refused.value.original_message


def test_an_answer_format_linear_learner_does_not_offer_stays_refused() -> None:
    with pytest.raises(ModelContainerError) as refused:
        invoke(MODEL, "text/csv", "text/csv", b"1,2,3")
    assert refused.value.original_status_code == 406


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="data")
        for index in range(3):
            client.put_object(Bucket="data", Key=f"sets/a/matrix_{index}.pbr",
                              Body=b"".join(encode_record([float(index), 1.0], float(index)) for _ in range(4)))
        yield client


def manifest_channel(s3: Any, document: Any) -> dict[str, Any]:
    s3.put_object(Bucket="data", Key="sets/a/.amazon.manifest", Body=json.dumps(document).encode())
    return {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://data/sets/a/.amazon.manifest",
                                            "S3DataDistributionType": "ShardedByS3Key"}}}


def test_a_manifest_file_channel_reads_the_objects_it_names_in_its_order(s3: Any) -> None:
    channel = manifest_channel(s3, [{"prefix": "s3://data/sets/a/"}, "matrix_2.pbr", "matrix_0.pbr"])
    bucket, objects = channel_objects(s3, channel["DataSource"]["S3DataSource"])
    assert bucket == "data" and [o.key for o in objects] == ["sets/a/matrix_2.pbr", "sets/a/matrix_0.pbr"]
    data = download_channels(s3, {"train": channel}, hosts=2)
    hosts = [[shard.key for shard in host] for host in data.host_shards]
    assert sorted(hosts) == [["sets/a/matrix_0.pbr"], ["sets/a/matrix_2.pbr"]]  # one named object each


def test_a_manifest_without_its_prefix_fails_the_job_saying_so(s3: Any) -> None:
    channel = manifest_channel(s3, ["matrix_0.pbr"])
    with pytest.raises(TrainingFailedError) as failed:
        download_channels(s3, {"train": channel}, hosts=1)
    assert 'must be a JSON list starting with {"prefix": "s3://..."}' in failed.value.reason
