"""compare on batch transform outputs (`scoring` `transform`): the jobs' JSON Lines read in record order, paired
with each test object's labels; the same metrics, report and picture as on endpoints; mismatches named."""

from __future__ import annotations

import json
from typing import Any

import boto3
import numpy as np
import pytest
from test_compare_run import (
    BUCKET,
    DATASET,
    NAMESPACE,
    REPLICATED,
    RUN_PREFIX,
    SHARDED,
    RequestLog,
    event,
    make_rows,
    recordio_bytes,
    reference_metrics,
    stubbed_sagemaker,
)

from lambdas.compare.comparison import CompareInputError, CompareRequest, run_comparison
from lambdas.compare.transform_output import TransformOutputError, parse_jsonlines_scores
from lambdas.lambda_common.vocabulary import JSONLINES, RECORDIO_PROTOBUF
from local.hosting import invoke

pytest_plugins = ["test_compare_run"]  # its aws fixture
OUTPUTS = {branch: f"s3://{BUCKET}/{RUN_PREFIX}transform/{branch}/" for branch in ("replicated", "sharded")}
MODELS = {"replicated": REPLICATED, "sharded": SHARDED}


def transform_event(**overrides: Any) -> dict[str, Any]:
    base = event(testData=f"s3://{BUCKET}/{DATASET}test/", transformOutputs=OUTPUTS,
                 transformJobs={"replicated": "shardlab-unit-replicated", "sharded": "shardlab-unit-sharded"})
    del base["endpoints"]
    base.update(overrides)
    return base


@pytest.fixture
def transformed(aws: None) -> dict[str, Any]:
    """Two test objects, their train prefix, and what each model's transform job wrote for them."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    xs, ys = [], []
    for group, rows in ((0, 1200), (1, 900)):
        x, y = make_rows(rows, seed=10 + group)
        body = recordio_bytes(x, y)
        key = f"1984-{group:02d}.data"
        s3.put_object(Bucket=BUCKET, Key=f"{DATASET}test/{key}", Body=body)
        for branch, model in MODELS.items():
            answer, _ = invoke(model, RECORDIO_PROTOBUF, JSONLINES, body)  # the container's JSON Lines
            s3.put_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}transform/{branch}/{key}.out", Body=answer)
        xs.append(x)
        ys.append(y)
    train_x, train_y = make_rows(800, seed=3)
    s3.put_object(Bucket=BUCKET, Key=f"{DATASET}train/1979.data", Body=recordio_bytes(train_x, train_y))
    return {"x": np.concatenate(xs), "y": np.concatenate(ys)}


def compare(log: RequestLog, request_event: dict[str, Any]) -> dict[str, Any]:
    sagemaker, _ = stubbed_sagemaker(log, transforms=True)
    return run_comparison(
        CompareRequest.from_event(request_event), s3=log.watch(boto3.client("s3", region_name="us-east-1")),
        sagemaker=sagemaker, runtime=None, cloudwatch=log.watch(boto3.client("cloudwatch", region_name="us-east-1")),
        metrics_namespace=NAMESPACE,
    )


def test_transform_outputs_give_the_endpoints_metrics_report_and_picture(transformed: dict[str, Any]) -> None:
    log = RequestLog()
    summary = compare(log, transform_event())
    assert log.problems == []
    operations = {op for _service, op, _params in log.calls}
    assert "DescribeEndpoint" not in operations and "InvokeEndpoint" not in operations
    s3 = boto3.client("s3", region_name="us-east-1")
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}report.json")["Body"].read())
    for branch, model in MODELS.items():
        expected = reference_metrics(transformed["y"], model.predict(transformed["x"]))
        for name, value in expected.items():
            assert report["models"][branch]["test"][name] == pytest.approx(value, rel=1e-12), (branch, name)
        assert report["models"][branch]["transformJobName"] == f"shardlab-unit-{branch}"
        assert "endpointName" not in report["models"][branch]
    assert report["testData"]["scoring"] == "transform"
    cost = report["cost"]  # each job's 120 s on one ml.m5.xlarge, at its batch transform price
    for branch in MODELS:
        transform = cost["branches"][branch]["transform"]
        assert transform["instanceSeconds"] == 120 and cost["branches"][branch]["endpoint"] is None
        assert transform["usd"] == pytest.approx(120 * transform["usdPerHour"] / 3600, abs=1e-4)  # cents to 4 places
    assert cost["endpointsUsd"] == 0 and cost["transformsUsd"] > 0
    assert report["testData"]["rows"] == 2100 and report["testData"]["batches"] == 2
    markdown = s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}report.md")["Body"].read().decode()
    assert "scored by a batch transform job per model, 2 output objects each" in markdown
    assert s3.head_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}comparison.png")["ContentType"] == "image/png"
    assert summary["testRows"] == 2100 and "ShardedByS3Key" in summary["verdict"]


def test_an_output_with_another_number_of_scores_is_named(transformed: dict[str, Any]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    key = f"{RUN_PREFIX}transform/sharded/1984-01.data.out"
    lines = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines(keepends=True)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"".join(lines[:-1]))
    with pytest.raises(TransformOutputError, match=r"1984-01\.data\.out holds 899 scores but .*1984-01\.data has 900"):
        compare(RequestLog(), transform_event())
    s3.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(TransformOutputError, match=r"transform output .*sharded/1984-01\.data\.out does not exist"):
        compare(RequestLog(), transform_event())


def test_json_lines_in_any_spelling_are_read_and_bad_scores_refused() -> None:
    assert list(parse_jsonlines_scores(b'{"score": 1.5}\n{"score": -2}\n', "x")) == [1.5, -2.0]
    assert list(parse_jsonlines_scores(b'{"score":1.5, "extra": 1}\n\n{ "score" : 3 }', "x")) == [1.5, 3.0]
    with pytest.raises(TransformOutputError, match="not a finite number"):
        parse_jsonlines_scores(b'{"score": NaN}\n', "x")
    with pytest.raises(TransformOutputError, match=r"x: not JSON Lines"):
        parse_jsonlines_scores(b'{"predictions": []}\n', "x")


def test_a_bad_transform_output_uri_is_named() -> None:
    bad = transform_event(transformOutputs={**OUTPUTS, "sharded": "https://example.com/out/"})
    with pytest.raises(CompareInputError, match=r"transformOutputs\.sharded"):
        CompareRequest.from_event(bad)
