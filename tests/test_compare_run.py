"""compare end to end: moto S3 and CloudWatch, the real local endpoint server, a stubbed DescribeTrainingJob.

Every request the step sends is checked against botocore's service models, strictly (lengths, patterns,
enums, ranges: more than boto3's own client-side validation checks).
"""

from __future__ import annotations

import datetime
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import chart_helpers
import numpy as np
import pytest
from botocore.config import Config
from botocore.model import Shape
from botocore.stub import Stubber
from botocore.validate import ParamValidator
from moto import mock_aws

from lambdas.compare import chart, comparison
from lambdas.compare import handler as compare_handler
from lambdas.compare.comparison import CompareInputError, CompareRequest, run_comparison
from lambdas.compare.scoring import RetryPolicy, ScoringError
from lambdas.compare.testdata import DatasetError, sum_labels
from lambdas.lambda_common import recordio
from local.hosting import EndpointRegistry
from local.linear_model import LinearModel
from local.pricing import LocalPriceList
from local.server import LocalSageMakerServer

BUCKET = "shardlab-test-bucket"
DATASET = "datasets/0123456789abcdef/"
RUN_PREFIX = "runs/unit-run-1a2b3c4d/"
NAMESPACE = "Shardlab/Test"
FEATURES = 6
REPLICATED = LinearModel(weights=np.array([0.5, -0.25, 0.01, 0.02, 1.5, -1.0]), bias=4.0)
SHARDED = LinearModel(weights=np.array([0.45, -0.2, 0.012, 0.015, 1.4, -0.9]), bias=4.1)


def make_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((rows, FEATURES), dtype=np.float32)
    x[:, 0] = rng.integers(1, 30, rows)
    x[:, 1] = rng.normal(0, 1.7, rows)
    x[:, 2:4] = np.round(rng.uniform(-80, 80, (rows, 2)), 4)
    x[np.arange(rows), 4 + rng.integers(0, 2, rows)] = 1
    y = x.astype(np.float64) @ np.array([0.5, -0.3, 0.0, 0.02, 1.0, -1.0]) + 4 + rng.normal(0, 2, rows)
    return x, y.astype(np.float32)


def recordio_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    return b"".join(recordio.encode_record(f, float(label)) for f, label in zip(x.tolist(), y.tolist(), strict=True))


# -- strict request validation against botocore's models -----------------------------------------------------


def java_pattern(pattern: str) -> str:
    """The service models use Java regex; the classes they use here, in Python's spelling."""
    return pattern.replace(r"\p{ASCII}", r"[\x00-\x7f]").replace(r"\p{Print}", r"[\x20-\x7e]")


def strict_problems(shape: Shape, value: Any, path: str) -> list[str]:  # noqa: C901, PLR0912 -- one branch per botocore shape type and constraint
    problems: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                problems += strict_problems(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list":
        if ("min" in meta and len(value) < meta["min"]) or ("max" in meta and len(value) > meta["max"]):
            problems.append(f"{path}: {len(value)} items outside [{meta.get('min')}, {meta.get('max')}]")
        for i, item in enumerate(value):
            problems += strict_problems(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "string":
        if ("max" in meta and len(value) > meta["max"]) or ("min" in meta and len(value) < meta["min"]):
            problems.append(f"{path}: length {len(value)} outside [{meta.get('min')}, {meta.get('max')}]")
        if "pattern" in meta and not re.fullmatch(java_pattern(meta["pattern"]), value):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
    elif shape.type_name == "blob":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: blob of {len(value)} bytes over {meta['max']}")
    elif shape.type_name in ("integer", "long", "double", "float") and (
        ("min" in meta and value < meta["min"]) or ("max" in meta and value > meta["max"])
    ):
        problems.append(f"{path}: {value} outside [{meta.get('min')}, {meta.get('max')}]")
    return problems


class RequestLog:
    """Validates and records every request a client sends."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.problems: list[str] = []

    def watch(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def check(params: dict[str, Any], model: Any, **_: Any) -> None:
            report = ParamValidator().validate(params, model.input_shape)
            if report.has_errors():
                self.problems.append(f"{service}.{model.name}: {report.generate_report()}")
            self.problems += strict_problems(model.input_shape, params, f"{service}.{model.name}")
            self.calls.append((service, model.name, params))

        client.meta.events.register("provide-client-params.*.*", check)
        return client


# -- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture
def server() -> Iterator[LocalSageMakerServer]:
    registry = EndpointRegistry()
    registry.register("shardlab-unit-replicated", REPLICATED)
    registry.register("shardlab-unit-sharded", SHARDED)
    with LocalSageMakerServer(registry=registry) as running:
        yield running


@pytest.fixture
def dataset(aws: None) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    test_x, test_y = make_rows(3000, seed=1)
    s3.put_object(Bucket=BUCKET, Key=f"{DATASET}test/1984.data", Body=recordio_bytes(test_x, test_y))
    train_labels = []
    for year in (1979, 1980, 1981):
        x, y = make_rows(700 + year % 7 * 10, seed=year)
        s3.put_object(Bucket=BUCKET, Key=f"{DATASET}train/{year}.data", Body=recordio_bytes(x, y))
        train_labels.append(y)
    return {"test_x": test_x, "test_y": test_y, "train_y": np.concatenate(train_labels)}


def training_job(name: str, distribution: str, seconds: int, billable: int, count: int = 5) -> dict[str, Any]:
    when = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.UTC)
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/{RUN_PREFIX}training/{name}/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "img:1"},
        "RoleArn": "arn:aws:iam::123456789012:role/shardlab-training",
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/{DATASET}train/",
                        "S3DataDistributionType": distribution,
                    }
                },
            }
        ],
        "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": count, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": when,
        "TrainingTimeInSeconds": seconds,
        "BillableTimeInSeconds": billable,
        "FinalMetricDataList": [
            {"MetricName": "validation:mse", "Value": 4.5, "Timestamp": when},
            {"MetricName": "validation:absolute_loss", "Value": 1.6, "Timestamp": when},
        ],
    }


def transform_job(name: str, when: datetime.datetime) -> dict[str, Any]:
    """A completed batch transform job of 120 s on one ml.m5.xlarge (DescribeTransformJob's answer)."""
    return {
        "TransformJobName": name,
        "TransformJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{name}",
        "TransformJobStatus": "Completed",
        "ModelName": name,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/test/"}}},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "CreationTime": when,
        "TransformStartTime": when,
        "TransformEndTime": when + datetime.timedelta(seconds=120),
    }


def stubbed_sagemaker(
    log: RequestLog,
    *,
    replicated: dict[str, Any] | None = None,
    sharded: dict[str, Any] | None = None,
    statuses: tuple[str, str] = ("InService", "InService"),
    transforms: bool = False,
) -> tuple[Any, Stubber]:
    """Both training jobs, then both endpoints, or with ``transforms`` both batch transform jobs (their cost)."""
    client = log.watch(boto3.client("sagemaker", region_name="us-east-1"))
    stubber = Stubber(client)
    jobs = {
        "shardlab-unit-replicated": replicated or training_job("shardlab-unit-replicated", "FullyReplicated", 460, 470),
        "shardlab-unit-sharded": sharded or training_job("shardlab-unit-sharded", "ShardedByS3Key", 100, 110),
    }
    for name, job in jobs.items():
        stubber.add_response("describe_training_job", job, {"TrainingJobName": name})
    when = datetime.datetime(2026, 11, 27, 13, 0, tzinfo=datetime.UTC)
    for name in jobs if transforms else ():
        stubber.add_response("describe_transform_job", transform_job(name, when), {"TransformJobName": name})
    for name, status in zip(jobs, statuses, strict=True):
        if transforms:
            break
        stubber.add_response(
            "describe_endpoint",
            {
                "EndpointName": name,
                "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
                "EndpointStatus": status,
                "CreationTime": when,
                "LastModifiedTime": when,
            },
            {"EndpointName": name},
        )
    stubber.activate()
    return client, stubber


def event(**overrides: Any) -> dict[str, Any]:
    base = {
        "trainingJobs": {"replicated": "shardlab-unit-replicated", "sharded": "shardlab-unit-sharded"},
        "endpoints": {"replicated": "shardlab-unit-replicated", "sharded": "shardlab-unit-sharded"},
        "testData": f"s3://{BUCKET}/{DATASET}test/1984.data",
        "trainData": f"s3://{BUCKET}/{DATASET}train/",
        "bucket": BUCKET,
        "runPrefix": RUN_PREFIX,
        "runId": "unit-run-1a2b3c4d",
        "parameters": {"testYear": 1984, "instanceCount": 5, "hostingInstanceType": "ml.m5.xlarge"},
    }
    base.update(overrides)
    return base


def clients(server: LocalSageMakerServer, log: RequestLog, **sagemaker_options: Any) -> dict[str, Any]:
    sagemaker, _ = stubbed_sagemaker(log, **sagemaker_options)
    return {
        "s3": log.watch(boto3.client("s3", region_name="us-east-1")),
        "sagemaker": sagemaker,
        "runtime": log.watch(
            boto3.client(
                "sagemaker-runtime",
                region_name="us-east-1",
                endpoint_url=server.url,
                config=Config(retries={"total_max_attempts": 1}),
            )
        ),
        "cloudwatch": log.watch(boto3.client("cloudwatch", region_name="us-east-1")),
    }


def reference_metrics(y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    y64 = y.astype(np.float64)
    errors = y64 - predictions
    return {
        "mse": float(np.mean(errors**2)),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "medianAbsoluteError": float(np.median(np.abs(errors))),
        "r2": float(1 - np.sum(errors**2) / np.sum((y64 - y64.mean()) ** 2)),
    }


def list_keys(prefix: str) -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


# -- tests ---------------------------------------------------------------------------------------------------


def test_full_comparison(dataset: dict[str, Any], server: LocalSageMakerServer) -> None:
    log = RequestLog()
    summary = run_comparison(
        CompareRequest.from_event(event()),
        **clients(server, log),
        metrics_namespace=NAMESPACE,
        max_request_bytes=20_000,  # several batches per endpoint
        concurrency_per_endpoint=3,
    )
    assert log.problems == []
    invocations = [params for service, op, params in log.calls if op == "InvokeEndpoint"]
    assert all(len(params["Body"]) <= 20_000 for params in invocations)
    assert all(params["ContentType"] == "text/csv" for params in invocations)

    s3 = boto3.client("s3", region_name="us-east-1")
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}report.json")["Body"].read())
    markdown = s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}report.md")["Body"].read().decode()
    x, y = dataset["test_x"], dataset["test_y"]
    for branch, model in (("replicated", REPLICATED), ("sharded", SHARDED)):
        expected = reference_metrics(y, model.predict(x))
        got = report["models"][branch]["test"]
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-12), (branch, name)
        assert got["rows"] == 3000
    train_mean = float(np.mean(dataset["train_y"].astype(np.float64)))
    assert report["baseline"]["prediction"] == pytest.approx(train_mean, rel=1e-12)
    assert report["baseline"]["trainRows"] == dataset["train_y"].size
    baseline = reference_metrics(y, np.full(y.size, train_mean))
    assert report["baseline"]["test"]["mse"] == pytest.approx(baseline["mse"], rel=1e-12)
    assert report["testData"]["rows"] == 3000
    assert report["testData"]["batches"] == len(invocations) // 2 > 3
    assert report["models"]["sharded"]["training"]["billableInstanceSeconds"] == 550
    assert report["comparison"]["trainingSpeedUp"] == pytest.approx(4.6)
    # dollars (no Price List client given: the bundled table): billable s x instances x $0.408/h
    cost = report["cost"]
    assert cost["prices"]["source"] == "bundled price table" and summary["priceSource"] == "bundled price table"
    assert cost["branches"]["replicated"]["training"]["usd"] == pytest.approx(470 * 5 * 0.408 / 3600, abs=1e-4)
    assert cost["branches"]["sharded"]["training"]["usd"] == pytest.approx(550 * 0.408 / 3600, abs=1e-4)
    assert cost["totalUsd"] == summary["costUsd"] == pytest.approx(
        sum(part["usd"] for part in cost["branches"].values()), abs=1e-3)
    assert report["parameters"] == {"testYear": 1984, "instanceCount": 5, "hostingInstanceType": "ml.m5.xlarge"}
    mse_change = 100 * (report["models"]["sharded"]["test"]["mse"] / report["models"]["replicated"]["test"]["mse"] - 1)
    assert report["comparison"]["mseChangePercent"] == pytest.approx(mse_change)
    direction = "higher" if mse_change > 0 else "lower"
    assert summary["verdict"] == report["verdict"]
    assert summary["verdict"].startswith(
        f"ShardedByS3Key trained 4.6x faster than FullyReplicated; its test MSE is {abs(mse_change):.1f}% {direction}"
    )
    assert summary["report"] == {
        "json": f"s3://{BUCKET}/{RUN_PREFIX}report.json",
        "markdown": f"s3://{BUCKET}/{RUN_PREFIX}report.md",
        "chart": f"s3://{BUCKET}/{RUN_PREFIX}comparison.png",
    }
    assert len(json.dumps(summary)) < 2000
    assert report["verdict"] in markdown
    assert "| test MSE |" in markdown and "ShardedByS3Key" in markdown and "validation:mse" in markdown

    # rows and bytes per host, for both jobs: 3 yearly objects on 5 instances leave two sharded hosts idle
    hosts = report["hosts"]
    record_bytes = len(recordio_bytes(*make_rows(1, seed=0)))
    assert hosts["instanceCount"] == 5 and hosts["trainObjects"] == 3
    assert [h["rows"] for h in hosts["FullyReplicated"]] == [2210] * 5
    assert [h["rows"] for h in hosts["ShardedByS3Key"]] == [750, 760, 700, 0, 0]
    assert [h["bytes"] for h in hosts["ShardedByS3Key"]] == [n * record_bytes for n in (750, 760, 700, 0, 0)]
    assert [h["host"] for h in hosts["ShardedByS3Key"]] == [f"algo-{i}" for i in range(1, 6)]
    assert "| algo-4 | 2210 | " in markdown and "| 0 | 0 | 0 |" in markdown

    assert "![training time, cost, predictions and errors](comparison.png)" in markdown  # beside report.md

    # report.json is the last write: after the metrics, comparison.png and report.md
    operations = [op for _service, op, _params in log.calls]
    assert operations[-4:] == ["PutMetricData", "PutObject", "PutObject", "PutObject"]
    written = [params["Key"] for _s, op, params in log.calls if op == "PutObject"]
    assert written[-3:] == [f"{RUN_PREFIX}comparison.png", f"{RUN_PREFIX}report.md", f"{RUN_PREFIX}report.json"]
    png = s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}comparison.png")
    assert png["ContentType"] == "image/png"
    image = chart_helpers.decoded(png["Body"].read())
    chart_helpers.assert_bars_show(image, chart.PANEL_BOXES[0], {"replicated": 460, "sharded": 100})
    chart_helpers.assert_bars_show(image, chart.PANEL_BOXES[1], {"replicated": 2350, "sharded": 550})

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    metrics = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    names = {(m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]}["DistributionType"]) for m in metrics}
    assert ("TrainingTimeInSeconds", "ShardedByS3Key") in names
    assert ("TestMSE", "FullyReplicated") in names
    assert ("TestMSE", "NaiveMeanBaseline") in names
    assert all({d["Name"] for d in m["Dimensions"]} == {"DistributionType", "RunId"} for m in metrics)


class PriceListOnly:
    """A control plane that serves only the Price List API (local.pricing)."""

    def __init__(self) -> None:
        self.price_list = LocalPriceList()

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"no SageMaker call expected here, got {operation}")


def test_handler_uses_environment_and_event_train_label_mean(
    dataset: dict[str, Any], server: LocalSageMakerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RequestLog()
    sagemaker, stubber = stubbed_sagemaker(log)
    monkeypatch.setenv("SHARDLAB_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    real_client = boto3.client

    def client(service: str, **kwargs: Any) -> Any:
        return sagemaker if service == "sagemaker" else log.watch(real_client(service, **kwargs))

    monkeypatch.setattr(compare_handler.boto3, "client", client)
    # the handler's Price List client reaches local.pricing on loopback (AWS_ENDPOINT_URL_PRICING)
    with LocalSageMakerServer(registry=EndpointRegistry(), control_plane=PriceListOnly()) as prices:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", prices.url)
        summary = compare_handler.handler(event(trainLabelMean=5.0), None)
    assert summary["priceSource"] == "AWS Price List API"
    assert [op for service, op, _ in log.calls if service == "pricing"] == ["GetProducts", "GetProducts"]
    stubber.assert_no_pending_responses()
    assert log.problems == []
    assert summary["testRows"] == 3000
    # the train objects were not read (the event gave the mean); only one record header, for the host table
    train_reads = [params for _s, op, params in log.calls if op == "GetObject" and "train/" in params["Key"]]
    assert [params.get("Range") for params in train_reads] == ["bytes=0-7"]
    y = dataset["test_y"].astype(np.float64)
    assert summary["testMse"]["naiveBaseline"] == pytest.approx(float(np.mean((y - 5.0) ** 2)), rel=1e-12)


def test_handler_needs_the_metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHARDLAB_METRICS_NAMESPACE", raising=False)
    with pytest.raises(RuntimeError, match="SHARDLAB_METRICS_NAMESPACE is not set"):
        compare_handler.handler(event(), None)


def test_endpoint_not_in_service_fails_before_scoring(dataset: dict[str, Any], server: LocalSageMakerServer) -> None:
    log = RequestLog()
    with pytest.raises(CompareInputError, match="endpoint shardlab-unit-sharded is Creating, not InService"):
        run_comparison(
            CompareRequest.from_event(event()),
            **clients(server, log, statuses=("InService", "Creating")),
            metrics_namespace=NAMESPACE,
        )
    assert not any(op == "InvokeEndpoint" for _s, op, _p in log.calls)
    assert list_keys(RUN_PREFIX) == []


def test_missing_test_object_is_named(dataset: dict[str, Any], server: LocalSageMakerServer) -> None:
    missing = f"s3://{BUCKET}/{DATASET}test/1999.data"
    with pytest.raises(DatasetError, match=f"the test object {missing} does not exist"):
        run_comparison(
            CompareRequest.from_event(event(testData=missing, trainLabelMean=5.0)),
            **clients(server, RequestLog()),
            metrics_namespace=NAMESPACE,
        )
    assert list_keys(RUN_PREFIX) == []


def test_model_error_names_endpoint_and_batch_and_writes_nothing(
    dataset: dict[str, Any], server: LocalSageMakerServer
) -> None:
    # The sharded endpoint now serves a model with another feature count: the container refuses every batch.
    server.registry.register("shardlab-unit-sharded", LinearModel(weights=np.ones(FEATURES + 1), bias=0.0))
    with pytest.raises(ScoringError) as raised:
        run_comparison(
            CompareRequest.from_event(event(trainLabelMean=5.0)),
            **clients(server, RequestLog()),
            metrics_namespace=NAMESPACE,
            max_request_bytes=20_000,
            retry=RetryPolicy(max_attempts=3, base_delay_seconds=0),
        )
    message = str(raised.value)
    assert message.startswith("endpoint shardlab-unit-sharded, batch ")
    assert "ModelError: Received client error (400)" in message
    assert "after" not in message  # a model error is not retried
    assert list_keys(RUN_PREFIX) == []
    assert boto3.client("cloudwatch", region_name="us-east-1").list_metrics(Namespace=NAMESPACE)["Metrics"] == []


def _compare_with_training_only(sagemaker: Any) -> None:
    """A comparison that must stop at its training-job checks (no runtime, no CloudWatch given)."""
    run_comparison(
        CompareRequest.from_event(event()),
        s3=boto3.client("s3"),
        sagemaker=sagemaker,
        runtime=None,
        cloudwatch=None,
        metrics_namespace=NAMESPACE,
    )


def test_training_job_with_the_wrong_distribution_is_refused(
    dataset: dict[str, Any], server: LocalSageMakerServer
) -> None:
    swapped = training_job("shardlab-unit-sharded", "FullyReplicated", 100, 110)
    log = RequestLog()
    sagemaker, _ = stubbed_sagemaker(log, sharded=swapped)
    with pytest.raises(CompareInputError, match="train channel is FullyReplicated, not ShardedByS3Key"):
        _compare_with_training_only(sagemaker)


def test_incomplete_training_job_is_refused(dataset: dict[str, Any], server: LocalSageMakerServer) -> None:
    running = training_job("shardlab-unit-replicated", "FullyReplicated", 1, 1)
    running["TrainingJobStatus"] = "InProgress"
    log = RequestLog()
    sagemaker, _ = stubbed_sagemaker(log, replicated=running)
    with pytest.raises(ValueError, match="training job shardlab-unit-replicated is InProgress, not Completed"):
        _compare_with_training_only(sagemaker)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"endpoints": {"replicated": "a"}}, 'endpoints must be {"replicated": name, "sharded": name}'),
        ({"testData": "bucket/key"}, "testData: 'bucket/key' is not an s3://bucket/key URI"),
        ({"runPrefix": "runs/x"}, "ending in '/'"),
        ({"bucket": ""}, "bucket must be a non-empty string"),
        ({"trainLabelMean": "5"}, "trainLabelMean must be a finite number"),
        ({"endpoints": {"replicated": "same", "sharded": "same"}}, "must differ"),
        ({"parameters": []}, "parameters must be an object"),
        ({"endpoint": {}}, "has unknown key(s) 'endpoint'"),
    ],
)
def test_bad_events_are_named(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(CompareInputError, match=re.escape(fragment)):
        CompareRequest.from_event(event(**overrides))


def test_empty_train_prefix_is_an_error(dataset: dict[str, Any], server: LocalSageMakerServer) -> None:
    with pytest.raises(DatasetError, match="no training objects under"):
        run_comparison(
            CompareRequest.from_event(event(trainData=f"s3://{BUCKET}/nothing/here/")),
            **clients(server, RequestLog()),
            metrics_namespace=NAMESPACE,
        )


def test_recordio_bytes_helper_matches_the_writer() -> None:
    x, y = make_rows(3, seed=0)
    records = list(recordio.iter_records(io.BytesIO(recordio_bytes(x, y))))
    assert [r[1][0] for r in records] == y.tolist()


def test_a_test_prefix_of_several_objects_is_scored_as_one_test_set(
    dataset: dict[str, Any], server: LocalSageMakerServer
) -> None:
    """A daily or monthly test year is one test object per month: the compare step reads them in key order."""
    s3 = boto3.client("s3", region_name="us-east-1")
    x, y = dataset["test_x"], dataset["test_y"]
    s3.delete_object(Bucket=BUCKET, Key=f"{DATASET}test/1984.data")
    for group, rows in enumerate((slice(0, 1000), slice(1000, 1001), slice(1001, 3000))):
        s3.put_object(Bucket=BUCKET, Key=f"{DATASET}test/2015-{group:02d}.data", Body=recordio_bytes(x[rows], y[rows]))
    log = RequestLog()
    run_comparison(
        CompareRequest.from_event(event(testData=f"s3://{BUCKET}/{DATASET}test/")),
        **clients(server, log),
        metrics_namespace=NAMESPACE,
        max_request_bytes=20_000,
    )
    assert log.problems == []
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}report.json")["Body"].read())
    for branch, model in (("replicated", REPLICATED), ("sharded", SHARDED)):
        assert report["models"][branch]["test"]["rows"] == 3000
        assert report["models"][branch]["test"]["mse"] == pytest.approx(
            reference_metrics(y, model.predict(x))["mse"], rel=1e-12
        )
    s3.delete_object(Bucket=BUCKET, Key=f"{DATASET}test/2015-00.data")
    s3.delete_object(Bucket=BUCKET, Key=f"{DATASET}test/2015-01.data")
    s3.delete_object(Bucket=BUCKET, Key=f"{DATASET}test/2015-02.data")
    with pytest.raises(DatasetError, match=f"no test objects under s3://{BUCKET}/{DATASET}test/"):
        run_comparison(CompareRequest.from_event(event(testData=f"s3://{BUCKET}/{DATASET}test/")),
                       **clients(server, RequestLog()), metrics_namespace=NAMESPACE)


def test_the_training_mean_comes_from_the_manifest_when_it_describes_the_listed_objects(
    dataset: dict[str, Any],
) -> None:
    """Finalize's manifest carries each object's label sum: the compare step reads one small object instead of
    every train object, with the same exactly rounded mean; a manifest that does not describe exactly the listed
    objects (missing, stale sizes, no sums) is not trusted and the objects are streamed."""
    s3 = boto3.client("s3", region_name="us-east-1")
    prefix = f"{DATASET}train/"
    listed = comparison._objects_under(s3, BUCKET, prefix)
    streamed = comparison.dataset_label_mean(s3, BUCKET, prefix, listed)
    assert streamed[2] is False and streamed[1] == dataset["train_y"].size

    def described(obj: dict[str, Any]) -> dict[str, Any]:
        label_sum, records = sum_labels(s3.get_object(Bucket=BUCKET, Key=obj["key"])["Body"], obj["key"])
        return {"key": obj["key"], "channel": "train", "bytes": obj["bytes"], "records": records,
                "labelSum": label_sum}

    objects = [described(obj) for obj in listed]

    def with_manifest(train_objects: list[dict[str, Any]]) -> tuple[float, int, bool]:
        validation = {"key": f"{DATASET}validation/1979.data", "channel": "validation", "bytes": 112, "records": 1,
                      "labelSum": 1e9}
        s3.put_object(Bucket=BUCKET, Key=f"{DATASET}manifest.json",
                      Body=json.dumps({"objects": [*train_objects, validation]}).encode())
        return comparison.dataset_label_mean(s3, BUCKET, prefix, listed)

    assert with_manifest(objects) == (streamed[0], streamed[1], True)
    shifted = [{**objects[0], "labelSum": objects[0]["labelSum"] + len(dataset["train_y"])}, *objects[1:]]
    assert with_manifest(shifted)[0] == pytest.approx(streamed[0] + 1, rel=1e-12)  # the sums are what it uses
    assert with_manifest(objects[1:]) == streamed  # an object the manifest does not name
    assert with_manifest([{**objects[0], "bytes": objects[0]["bytes"] + 4}, *objects[1:]]) == streamed
    assert with_manifest([{k: v for k, v in objects[0].items() if k != "labelSum"}, *objects[1:]]) == streamed
    s3.put_object(Bucket=BUCKET, Key=f"{DATASET}manifest.json", Body=b"not json")
    assert comparison.dataset_label_mean(s3, BUCKET, prefix, listed) == streamed
