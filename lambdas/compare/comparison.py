"""The compare step as a plain function over boto3 clients (the handler only builds the clients)."""

from __future__ import annotations

import datetime
import json
import math
import struct
import time
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas.compare.chart import ChartData, PointSample, comparison_png
from lambdas.compare.cost import cost_chart_lines, run_cost
from lambdas.compare.metrics import (
    ConstantPredictionErrors,
    LabelSpread,
    SortedRuns,
    absolute_errors,
    metrics_of_sorted_absolute_errors,
)
from lambdas.compare.report import REPORT_FORMAT, comparison_figures, put_metrics, verdict, write_report
from lambdas.compare.scoring import RetryPolicy, ScoredTestSet, score_test_set
from lambdas.compare.testdata import (
    DEFAULT_REQUEST_BYTES,
    CsvBatch,
    DatasetError,
    iter_csv_batches,
    parse_s3_uri,
    sum_labels,
)
from lambdas.compare.training import TrainingFigures, describe_training
from lambdas.compare.transform_output import read_transform_scores
from lambdas.lambda_common.contracts import CompareEvent
from lambdas.lambda_common.sharding import host_loads
from lambdas.lambda_common.vocabulary import (
    BRANCHES,
    DATASET_MANIFEST,
    DISTRIBUTION_TYPES,
    REPLICATED,
    SHARDED,
    TRAIN_CHANNEL,
)


class CompareInputError(ValueError):
    """The event is not a compare request."""


@dataclass(frozen=True, kw_only=True)
class CompareRequest(CompareEvent):
    """The compare event (its keys and bounds: ``lambdas.lambda_common.contracts.CompareEvent``), with the checks that
    need compare's own parsers."""

    def check(self) -> None:
        uris = [("testData", self.test_data), ("trainData", self.train_data)]
        uris += [(f"transformOutputs.{branch}", uri) for branch, uri in (self.transform_outputs or {}).items()]
        for key, uri in uris:
            try:
                parse_s3_uri(uri)
            except DatasetError as error:
                raise ValueError(f"{key}: {error}") from error
        if (self.endpoints is None) == (self.transform_outputs is None):
            raise ValueError("the compare event names either endpoints or transformOutputs (with transformJobs)")
        if (self.transform_jobs is None) != (self.transform_outputs is None):
            raise ValueError("transformJobs and transformOutputs go together")
        if self.endpoints is not None and self.endpoints[REPLICATED] == self.endpoints[SHARDED]:
            raise ValueError("the two endpoints must differ: both are " + self.endpoints[SHARDED])

    @classmethod
    def from_event(cls, event: Any) -> CompareRequest:
        return cls.parse(event, error=CompareInputError)


def check_endpoints_in_service(sagemaker: Any, endpoints: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each branch's DescribeEndpoint answer; an endpoint not InService is refused."""
    descriptions: dict[str, dict[str, Any]] = {}
    for branch, endpoint_name in endpoints.items():
        try:
            descriptions[branch] = sagemaker.describe_endpoint(EndpointName=endpoint_name)
            status = descriptions[branch]["EndpointStatus"]
        except sagemaker.exceptions.ClientError as error:
            message = error.response.get("Error", {}).get("Message", str(error))
            raise CompareInputError(f"endpoint {endpoint_name} cannot be described: {message}") from error
        if status != "InService":
            raise CompareInputError(f"endpoint {endpoint_name} is {status}, not InService: it cannot be scored")
    return descriptions


class _Concatenated:
    """The test objects under a prefix, read one after the other (records never span objects)."""

    def __init__(self, s3: Any, bucket: str, keys: list[str]) -> None:
        self._s3, self._bucket, self._keys = s3, bucket, list(keys)
        self._body: Any = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._body is None:
                if not self._keys:
                    return b""
                self._body = self._s3.get_object(Bucket=self._bucket, Key=self._keys.pop(0))["Body"]
            data = self._body.read(size)
            if data:
                return data
            self._body.close()
            self._body = None


def _objects_under(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """`{"key", "bytes"}` of every object under `prefix` (folder markers left out), in S3 key order."""
    objects = [
        {"key": item["Key"], "bytes": int(item["Size"])}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]
    return sorted(objects, key=lambda obj: obj["key"].encode())  # S3 lists keys in UTF-8 binary order


def _open_object(s3: Any, uri: str, role: str) -> Any:
    bucket, key = parse_s3_uri(uri)
    if key.endswith("/"):  # a prefix: every object under it, in S3 key order (a year of monthly/daily groups)
        keys = [obj["key"] for obj in _objects_under(s3, bucket, key)]
        if not keys:
            raise DatasetError(f"no {role} objects under {uri}")
        return _Concatenated(s3, bucket, keys)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey as error:
        raise DatasetError(f"the {role} object {uri} does not exist") from error


def train_host_loads(
    s3: Any, train_data: str, instance_count: int, listed: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Rows and bytes each host of either job reads from the train prefix (lambdas.lambda_common.sharding's rule);
    ``listed`` is the prefix's listing when the caller has it already.

    Dense records of one feature_dim all have one size, so the first record's header gives every object's rows.
    """
    bucket, prefix = parse_s3_uri(train_data)
    objects = _objects_under(s3, bucket, prefix) if listed is None else [dict(obj) for obj in listed]
    if not objects:
        raise DatasetError(f"no training objects under {train_data}")
    first = next((obj for obj in objects if obj["bytes"] >= 8), None)
    record_bytes = 0
    if first is not None:
        header = s3.get_object(Bucket=bucket, Key=first["key"], Range="bytes=0-7")["Body"].read()
        _magic, length = struct.unpack("<II", header)
        record_bytes = 8 + length + (-length) % 4
    for obj in objects:
        obj["records"] = obj["bytes"] // record_bytes if record_bytes else 0
    return {"instanceCount": instance_count, "trainObjects": len(objects), **host_loads(objects, instance_count)}


def train_label_mean(s3: Any, bucket: str, keys: list[str]) -> tuple[float, int]:
    """(mean label, rows) over the given training objects, streaming them."""
    sums: list[float] = []
    rows = 0
    for key in keys:
        object_sum, object_rows = sum_labels(s3.get_object(Bucket=bucket, Key=key)["Body"], f"s3://{bucket}/{key}")
        sums.append(object_sum)
        rows += object_rows
    if rows == 0:
        raise DatasetError(f"the training objects under s3://{bucket}/{keys[0].rsplit('/', 1)[0]}/ hold no records")
    return math.fsum(sums) / rows, rows


def manifest_label_mean(
    s3: Any, bucket: str, train_prefix: str, listed: list[dict[str, Any]]
) -> tuple[float, int] | None:
    """(mean label, rows) from the dataset's manifest (Finalize writes it last, with the label sum the shard step
    took of each object), or None when there is no manifest or it does not describe exactly the listed train
    objects with their sizes and label sums (a dataset prepared before the sums, or objects changed since)."""
    if not train_prefix.endswith(f"{TRAIN_CHANNEL}/"):
        return None
    key = train_prefix.removesuffix(f"{TRAIN_CHANNEL}/") + DATASET_MANIFEST
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, ValueError):
        return None
    objects = manifest.get("objects") if isinstance(manifest, dict) else None
    if not isinstance(objects, list):
        return None
    train = {o.get("key"): o for o in objects if isinstance(o, dict) and o.get("channel") == TRAIN_CHANNEL}
    if set(train) != {obj["key"] for obj in listed}:
        return None
    sums: list[float] = []
    rows = 0
    for obj in listed:
        described = train[obj["key"]]
        label_sum, records = described.get("labelSum"), described.get("records")
        if (described.get("bytes") != obj["bytes"] or not isinstance(records, int)
                or not isinstance(label_sum, int | float) or isinstance(label_sum, bool)):
            return None
        sums.append(float(label_sum))
        rows += records
    return (math.fsum(sums) / rows, rows) if rows else None


def dataset_label_mean(
    s3: Any, bucket: str, train_prefix: str, listed: list[dict[str, Any]]
) -> tuple[float, int, bool]:
    """(mean label, rows, from the manifest): the manifest's label sums when they describe the listed objects,
    else by streaming every listed object (the same exactly rounded sums either way)."""
    from_manifest = manifest_label_mean(s3, bucket, train_prefix, listed)
    if from_manifest is not None:
        return (*from_manifest, True)
    return (*train_label_mean(s3, bucket, [obj["key"] for obj in listed]), False)


CHART_NAME = "comparison.png"


def write_chart(
    s3: Any,
    request: CompareRequest,
    report: dict[str, Any],
    samples: dict[str, PointSample],
    sorted_errors: dict[str, SortedRuns],
) -> str:
    """comparison.png beside the report files (written before them: report.json stays the last write)."""
    trainings = {branch: report["models"][branch]["training"] for branch in BRANCHES}
    data = ChartData(
        run_id=request.run_id,
        verdict=report["verdict"],
        training_seconds={b: t["trainingTimeInSeconds"] for b, t in trainings.items()},
        billable_instance_seconds={b: t["billableInstanceSeconds"] for b, t in trainings.items()},
        instances={b: f"{t['instanceCount']} x {t['instanceType']}" for b, t in trainings.items()},
        points={branch: samples[branch].points() for branch in BRANCHES},
        sorted_absolute_errors=sorted_errors,
        test_rows=report["testData"]["rows"],
        cost_lines=cost_chart_lines(report.get("cost")),
    )
    key = f"{request.run_prefix}{CHART_NAME}"
    s3.put_object(Bucket=request.bucket, Key=key, Body=comparison_png(data), ContentType="image/png")
    return f"s3://{request.bucket}/{key}"


def describe_both_trainings(sagemaker: Any, training_jobs: dict[str, str]) -> dict[str, TrainingFigures]:
    """Each branch's DescribeTrainingJob figures; a job whose train channel is the other branch's is refused."""
    training = {branch: describe_training(sagemaker, training_jobs[branch]) for branch in BRANCHES}
    for branch, figures in training.items():
        expected = DISTRIBUTION_TYPES[branch]
        if figures.distribution_type is not None and figures.distribution_type != expected:
            raise CompareInputError(
                f"training job {figures.job_name} is the {branch} branch but its train channel is "
                f"{figures.distribution_type}, not {expected}"
            )
    return training


class _Tally:
    """What builds up as batches come back, on the scoring threads: per branch the sorted absolute errors (see
    lambdas.compare.metrics) and a predicted-vs-actual sample for comparison.png; the baseline's errors once the
    training label mean is known; the test labels' spread once the last batch is sent."""

    def __init__(self, given_mean: float | None) -> None:
        self.errors = {branch: SortedRuns() for branch in BRANCHES}
        self.samples = {branch: PointSample() for branch in BRANCHES}
        self.baseline_errors = ConstantPredictionErrors()
        self.given_mean = given_mean
        self.train_mean: Future[tuple[float, int, bool]] | None = None  # read in the background when not given
        self.hosts: Future[dict[str, Any]] | None = None  # the per-host table, also read in the background
        self.spreads: list[LabelSpread] = []

    def known_mean(self) -> float | None:
        if self.given_mean is not None:
            return self.given_mean
        train_mean = self.train_mean
        if train_mean is not None and train_mean.done() and train_mean.exception() is None:
            return train_mean.result()[0]
        return None  # not read yet, or failed: the error is raised after scoring

    def on_scored(self, branch: str, batch: CsvBatch, predictions: array) -> None:
        self.errors[branch].add(batch.index, absolute_errors(batch.labels, predictions))
        self.samples[branch].add(batch.index, batch.labels, predictions)
        if branch == BRANCHES[0]:
            self.baseline_errors.add(batch.index, batch.labels, self.known_mean())

    def batches_then_label_spread(self, batches: Iterator[CsvBatch]) -> Iterator[CsvBatch]:
        # R²'s denominator needs every test label: computed once the last batch is sent, while it is scored.
        test_labels = array("d")
        for batch in batches:
            test_labels.extend(batch.labels)
            yield batch
        if test_labels:
            self.spreads.append(LabelSpread.of(test_labels))


@dataclass(frozen=True)
class _Baseline:
    """The naive baseline's constant prediction (the training label mean) and where it came from."""

    prediction: float
    source: str
    train_rows: int | None


@dataclass(frozen=True)
class _ScoringOptions:
    concurrency_per_endpoint: int
    max_request_bytes: int
    retry: RetryPolicy | None
    sleep: Callable[[float], None]


def _baseline(
    request: CompareRequest, train_mean: Future[tuple[float, int, bool]] | None, train_objects: int
) -> _Baseline:
    if request.train_label_mean is not None:
        return _Baseline(request.train_label_mean, "the event's trainLabelMean", None)
    if train_mean is None:
        raise AssertionError("unreachable: without trainLabelMean the train objects are listed (at least one)")
    mean, train_rows, from_manifest = train_mean.result()  # raises what reading the training labels raised
    source = f"{train_rows} training rows in {train_objects} objects under {request.train_data}"
    if from_manifest:
        source += f" (label sums from the dataset's {DATASET_MANIFEST})"
    return _Baseline(mean, source, train_rows)


def _score_both_endpoints(
    request: CompareRequest, s3: Any, runtime: Any, tally: _Tally, options: _ScoringOptions, *, instance_count: int
) -> tuple[ScoredTestSet, _Baseline, float]:
    """Stream the test set to both endpoints while the training labels and the per-host table are read (one
    listing of the train prefix for both); (scored, baseline, seconds)."""
    train_keys: list[str] = []
    train_bucket, train_prefix = parse_s3_uri(request.train_data)
    needs_listing = request.train_label_mean is None or instance_count > 0
    listed = _objects_under(s3, train_bucket, train_prefix) if needs_listing else []
    if request.train_label_mean is None:
        train_keys = [obj["key"] for obj in listed]
        if not train_keys:
            raise DatasetError(f"no training objects under {request.train_data}")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="train-labels") as background:
        # The training labels are read while the endpoints work on the first batches.
        if train_keys:
            tally.train_mean = background.submit(dataset_label_mean, s3, train_bucket, train_prefix, listed)
        if instance_count > 0:
            tally.hosts = background.submit(train_host_loads, s3, request.train_data, instance_count, listed)
        if request.transform_outputs is not None:  # scored by batch transform: read the jobs' outputs
            scored = read_transform_scores(s3, request.test_data, request.transform_outputs, on_scored=tally.on_scored,
                                           batches_then_label_spread=tally.batches_then_label_spread)
        else:
            assert request.endpoints is not None  # CompareRequest.check: endpoints or transform outputs
            test_stream = _open_object(s3, request.test_data, "test")
            batches = iter_csv_batches(test_stream, request.test_data, options.max_request_bytes)
            scored = score_test_set(
                runtime,
                request.endpoints,
                tally.batches_then_label_spread(batches),
                concurrency_per_endpoint=options.concurrency_per_endpoint,
                retry=options.retry,
                sleep=options.sleep,
                on_scored=tally.on_scored,
            )
        baseline = _baseline(request, tally.train_mean, len(train_keys))
    if scored.rows == 0:
        raise DatasetError(f"the test object {request.test_data} holds no records")
    return scored, baseline, time.perf_counter() - started


def _build_report(
    request: CompareRequest,
    *,
    training: dict[str, TrainingFigures],
    scored: ScoredTestSet,
    scoring_seconds: float,
    baseline: _Baseline,
    tally: _Tally,
    sorted_errors: dict[str, SortedRuns],
    now: Callable[[], datetime.datetime],
) -> dict[str, Any]:
    """report.json's content (its shape is the contract in docs/ARCHITECTURE.md "Compare")."""
    (spread,) = tally.spreads
    models: dict[str, dict[str, Any]] = {
        branch: {
            "distributionType": DISTRIBUTION_TYPES[branch],
            "trainingJobName": request.training_jobs[branch],
            **({"transformJobName": request.transform_jobs[branch]} if request.transform_jobs
               else {"endpointName": (request.endpoints or {})[branch]}),
            "training": training[branch].as_report(),
            "test": metrics_of_sorted_absolute_errors(sorted_errors[branch], spread),
        }
        for branch in BRANCHES
    }
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "runId": request.run_id,
        **({"point": request.point} if request.point is not None else {}),
        "generatedAt": now().isoformat(),
        "parameters": request.parameters,
        "testData": {
            "uri": request.test_data,
            "scoring": "transform" if request.transform_outputs is not None else "endpoint",
            "rows": scored.rows,
            "batches": scored.batches,
            "largestRequestBytes": scored.largest_request_bytes,
            "invocations": scored.requests,
            "scoringSeconds": round(scoring_seconds, 3),
        },
        "models": models,
        "baseline": {
            "name": "predict the training label mean",
            "prediction": baseline.prediction,
            "source": baseline.source,
            "trainRows": baseline.train_rows,
            "test": metrics_of_sorted_absolute_errors(tally.baseline_errors.runs(baseline.prediction), spread),
        },
        "comparison": comparison_figures(models),
        "hosts": tally.hosts.result() if tally.hosts is not None else None,
    }
    report["verdict"] = verdict(report)
    report["chart"] = CHART_NAME
    return report


def _summary(report: dict[str, Any], locations: dict[str, str], metric_count: int) -> dict[str, Any]:
    """What the state machine gets back (docs/ARCHITECTURE.md "Compare")."""
    models = report["models"]
    return {
        "runId": report["runId"],
        "verdict": report["verdict"],
        "report": locations,
        "testRows": report["testData"]["rows"],
        "trainingSpeedUp": report["comparison"]["trainingSpeedUp"],
        "mseChangePercent": report["comparison"]["mseChangePercent"],
        "testMse": {
            REPLICATED: models[REPLICATED]["test"]["mse"],
            SHARDED: models[SHARDED]["test"]["mse"],
            "naiveBaseline": report["baseline"]["test"]["mse"],
        },
        "trainingTimeInSeconds": {branch: models[branch]["training"]["trainingTimeInSeconds"] for branch in BRANCHES},
        "metricsPublished": metric_count,
        "costUsd": report["cost"].get("totalUsd"),
        "priceSource": report["cost"].get("prices", {}).get("source"),
    }


def run_comparison(
    request: CompareRequest,
    *,
    s3: Any,
    sagemaker: Any,
    runtime: Any,
    cloudwatch: Any,
    metrics_namespace: str,
    pricing: Any = None,
    concurrency_per_endpoint: int = 4,
    max_request_bytes: int = DEFAULT_REQUEST_BYTES,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> dict[str, Any]:
    """Check, score, compute, then publish: CloudWatch metrics, comparison.png, report.md, and report.json last.

    ``pricing``: a Price List client (lambdas.lambda_common.pricing); None prices from the bundled table.
    Returns the summary."""
    training = describe_both_trainings(sagemaker, request.training_jobs)
    endpoints = None if request.endpoints is None else check_endpoints_in_service(sagemaker, request.endpoints)
    tally = _Tally(request.train_label_mean)
    options = _ScoringOptions(concurrency_per_endpoint, max_request_bytes, retry, sleep)
    instance_count = training[SHARDED].instance_count
    scored, baseline, scoring_seconds = _score_both_endpoints(
        request, s3, runtime, tally, options, instance_count=instance_count
    )
    sorted_errors = {branch: tally.errors[branch] for branch in BRANCHES}
    report = _build_report(
        request,
        training=training,
        scored=scored,
        scoring_seconds=scoring_seconds,
        baseline=baseline,
        tally=tally,
        sorted_errors=sorted_errors,
        now=now,
    )
    transforms = {branch: sagemaker.describe_transform_job(TransformJobName=name)
                  for branch, name in (request.transform_jobs or {}).items()}
    report["cost"] = run_cost(training=training, endpoints=endpoints or {}, transforms=transforms,
                              hosting_instance_type=request.parameters.get("hostingInstanceType"),
                              sagemaker=sagemaker, pricing=pricing, projection=request.cost_projection, now=now)
    metric_count = put_metrics(cloudwatch, metrics_namespace, report)
    chart_uri = write_chart(s3, request, report, tally.samples, sorted_errors)
    locations = {**write_report(s3, request.bucket, request.run_prefix, report), "chart": chart_uri}
    return _summary(report, locations, metric_count)
