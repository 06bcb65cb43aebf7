"""Benchmark: the compare Lambda against the seed notebook's ``predict_batches``, same endpoints, same data.

Setup: a 300,000-row test year (25 float32 features: NumArticles, 4 geo coordinates, 20 one-hot event codes,
drawn from a seeded GDELT-like generator: article counts, a pool of place centroids, skewed code shares) and
five 60,000-row training objects in moto S3; two endpoints serving two linear models from the real local
server (``local.server``), run in a separate process as a real endpoint is remote from its caller.

- Baseline ("notebook"): read the test and train objects from S3 into numpy (the fast fixed-stride reader
  ``local.recordio_np.read_dense``, so reading is not what is compared), then the seed notebook's
  ``np2csv``/``predict_batches`` verbatim (numpy ``savetxt`` with ``%g``, ~5 MiB requests, one at a time, the
  sharded endpoint then the replicated one), then the metrics with numpy.
- Candidate ("shardlab"): ``lambdas.compare.comparison.run_comparison`` end to end with its defaults (1.5 MiB requests,
  4 in flight per endpoint): DescribeTrainingJob (a fake client), streaming the test object from S3, both
  endpoints concurrently, the training mean from the dataset's ``manifest.json`` (written here as Finalize writes
  it: each train object's bytes, records and label sum), metrics, CloudWatch metrics and report.json/report.md in
  moto.

Also prints the CPU seconds of the caller and of the endpoint server for each path, and two CPU cross-checks
of the wall ratio (other work on the machine distorts wall time): the ratio of total CPU (caller + server; it
gives no credit for overlap) and the ratio of caller CPU (both walls are set mostly by the caller: the
notebook's wall stays ~3.9 s when its requests are cut to 1.5 MiB, which cuts its server CPU from ~2.5 s to
~0.8 s, so most of that server CPU overlaps its caller). The load average is printed before and after.

Runs ``--rounds`` rounds (notebook and shardlab alternately, which goes first alternating too) after one
warm-up run, and prints each round's wall ratio with their median, spread and best; then checks the numbers:
the candidate's metrics against a numpy reference on the exact float32 features (must agree to 1e-12), and
against the baseline (which sends features rounded to 6 significant digits by ``%g``, so they agree only to
~1e-5; checked at 1e-4). Exits 1 if the numbers disagree or the median wall speed-up is under its target
(``bench/results.py``); ``--record`` writes the figure to ``bench/results.json``.

Usage: ``python bench/bench_compare.py [--rows 300000] [--rounds 5] [--record]``
"""

# N803: the fake SageMaker client takes boto3's keyword names.
# ruff: noqa: N803

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import boto3  # noqa: E402
import numpy as np  # noqa: E402

BUCKET = "shardlab-bench"
DATASET = "datasets/bench/"
FEATURES = 25
ENDPOINTS = {"replicated": "bench-replicated", "sharded": "bench-sharded"}
TRAIN_OBJECTS = 5


def models() -> dict[str, Any]:
    from local.linear_model import LinearModel

    rng = np.random.default_rng(42)
    weights = np.concatenate([[0.02, 0.004, 0.001, -0.003, 0.002], rng.normal(0, 1.2, 20)])
    return {
        "replicated": LinearModel(weights=weights, bias=4.9),
        "sharded": LinearModel(weights=weights * 1.03 + rng.normal(0, 0.02, FEATURES), bias=4.95),
    }


def generate(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    places = np.round(rng.uniform([-60, -150], [70, 150], (4000, 2)), 4).astype(np.float32)
    place_weights = rng.pareto(1.2, places.shape[0]) + 1e-3
    place_weights /= place_weights.sum()
    x = np.zeros((rows, FEATURES), dtype=np.float32)
    x[:, 0] = np.minimum(rng.geometric(0.22, rows), 54)
    x[:, 1:3] = places[rng.choice(places.shape[0], rows, p=place_weights)]
    x[:, 3:5] = places[rng.choice(places.shape[0], rows, p=place_weights)]
    code_share = np.sort(rng.pareto(1.0, 20) + 0.05)[::-1]
    x[np.arange(rows), 5 + rng.choice(20, rows, p=code_share / code_share.sum())] = 1
    tone = 5 + x[:, 5:] @ rng.normal(0, 1.5, 20) + 0.03 * x[:, 0] + rng.normal(0, 2.2, rows)
    return x, np.clip(tone, 0, 28.6).astype(np.float32)


def recordio_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    import sagemaker.amazon.common as smac  # the notebook's writer

    buffer = io.BytesIO()
    smac.write_numpy_to_dense_tensor(buffer, x, y)
    return buffer.getvalue()


# -- the seed notebook's evaluation, verbatim apart from the client's endpoint_url --------------------------


def np2csv(arr: np.ndarray) -> str:
    csv = io.BytesIO()
    np.savetxt(csv, arr, delimiter=",", fmt="%g")
    return csv.getvalue().decode().rstrip()


def predict_batches(data: np.ndarray, endpoint: str, url: str) -> np.ndarray:
    rows = 5.0 * 1024.0 * 1024.0 / sys.getsizeof(np2csv(data[0, :]))
    split_array = np.array_split(data, int(data.shape[0] / float(rows) + 1))
    predictions: list[float] = []
    runtime = boto3.Session().client("runtime.sagemaker", endpoint_url=url)
    for array in split_array:
        payload = np2csv(array)
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=payload)
        result = json.loads(response["Body"].read().decode())
        predictions += [r["score"] for r in result["predictions"]]
    return np.array(predictions)


def numpy_metrics(y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    y64 = y.astype(np.float64)
    errors = y64 - predictions
    return {
        "mse": float(np.mean(errors**2)),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "medianAbsoluteError": float(np.median(np.abs(errors))),
        "r2": float(1 - np.sum(errors**2) / np.sum((y64 - y64.mean()) ** 2)),
    }


def run_notebook(url: str) -> dict[str, Any]:
    from local.recordio_np import read_dense

    s3 = boto3.client("s3")
    test_x, test_y = read_dense(s3.get_object(Bucket=BUCKET, Key=f"{DATASET}test/1984.data")["Body"].read())
    labels = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{DATASET}train/"):
        for item in page["Contents"]:
            labels.append(read_dense(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())[1])
    train_mean = float(np.mean(np.concatenate(labels).astype(np.float64)))
    assert test_y is not None
    sharded_predictions = predict_batches(test_x, ENDPOINTS["sharded"], url)
    replicated_predictions = predict_batches(test_x, ENDPOINTS["replicated"], url)
    return {
        "replicated": numpy_metrics(test_y, replicated_predictions),
        "sharded": numpy_metrics(test_y, sharded_predictions),
        "baseline": numpy_metrics(test_y, np.full(test_y.shape, train_mean)),
    }


# -- shardlab ---------------------------------------------------------------------------------------------------


class FakeSageMaker:
    """DescribeTrainingJob/DescribeEndpoint(Config) answers, so the run needs no control plane."""

    _client = boto3.client("sagemaker", region_name="us-east-1")
    exceptions, meta = _client.exceptions, _client.meta  # the report's cost prices the client's region

    def describe_training_job(self, *, TrainingJobName: str) -> dict[str, Any]:
        sharded = TrainingJobName.endswith("sharded")
        seconds = 100 if sharded else 460
        return {
            "TrainingJobName": TrainingJobName,
            "TrainingJobStatus": "Completed",
            "TrainingTimeInSeconds": seconds,
            "BillableTimeInSeconds": seconds + 10,
            "ResourceConfig": {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 5, "VolumeSizeInGB": 10},
            "FinalMetricDataList": [{"MetricName": "validation:mse", "Value": 4.5}],
        }

    def describe_endpoint(self, *, EndpointName: str) -> dict[str, Any]:
        return {"EndpointName": EndpointName, "EndpointStatus": "InService", "EndpointConfigName": EndpointName,
                "CreationTime": datetime.datetime.now(datetime.UTC)}

    def describe_endpoint_config(self, *, EndpointConfigName: str) -> dict[str, Any]:
        return {"ProductionVariants": [{"InstanceType": "ml.m5.xlarge"}]}


def run_shardlab(url: str, run: int, max_request_bytes: int | None = None) -> dict[str, Any]:
    from botocore.config import Config

    from lambdas.compare.comparison import CompareRequest, run_comparison

    request = CompareRequest.from_event(
        {
            "trainingJobs": ENDPOINTS,
            "endpoints": ENDPOINTS,
            "testData": f"s3://{BUCKET}/{DATASET}test/1984.data",
            "trainData": f"s3://{BUCKET}/{DATASET}train/",
            "bucket": BUCKET,
            "runPrefix": f"runs/bench-{run}/",
            "runId": f"bench-{run}",
            "parameters": {},
        }
    )
    # As the handler builds it (lambdas.compare.handler): our retries, a pool for both endpoints.
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=8, read_timeout=75),
    )
    run_comparison(
        request,
        s3=boto3.client("s3"),
        sagemaker=FakeSageMaker(),
        runtime=runtime,
        cloudwatch=boto3.client("cloudwatch"),
        metrics_namespace="Shardlab/Bench",
        **({"max_request_bytes": max_request_bytes} if max_request_bytes else {}),
    )
    report_body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"runs/bench-{run}/report.json")["Body"]
    report = json.loads(report_body.read())
    if "manifest.json" not in report["baseline"]["source"]:  # the path a run takes, or the bench measures another
        raise SystemExit(f"the training mean did not come from the manifest: {report['baseline']['source']}")
    return {
        "replicated": report["models"]["replicated"]["test"],
        "sharded": report["models"]["sharded"]["test"],
        "baseline": report["baseline"]["test"],
    }


# -- the endpoint server, in its own process ----------------------------------------------------------------


def serve() -> None:
    from local.hosting import EndpointRegistry
    from local.server import LocalSageMakerServer

    registry = EndpointRegistry()
    for branch, model in models().items():
        registry.register(ENDPOINTS[branch], model)
    with LocalSageMakerServer(registry=registry) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process so far (Linux /proc), to show the work when the machine is busy."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def largest_difference(got: dict[str, Any], expected: dict[str, Any]) -> float:
    return max(
        abs(got[part][name] - value) / abs(value)
        for part, metrics in expected.items()
        for name, value in metrics.items()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of notebook then shardlab (median ratio)")
    parser.add_argument("--max-request-bytes", type=int, help="shardlab's request size cap (default: the Lambda's)")
    parser.add_argument("--record", action="store_true", help="write the figures to bench/results.json")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    from moto import mock_aws
    from results import check, figure, load_average, record

    load_before, bench_started = load_average(), time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with mock_aws():
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            test_x, test_y = generate(args.rows, seed=1984)
            s3.put_object(Bucket=BUCKET, Key=f"{DATASET}test/1984.data", Body=recordio_bytes(test_x, test_y))
            manifest_objects = []
            for year in range(1979, 1979 + TRAIN_OBJECTS):
                x, y = generate(60_000, seed=year)
                body = recordio_bytes(x, y)
                s3.put_object(Bucket=BUCKET, Key=f"{DATASET}train/{year}.data", Body=body)
                # what Finalize writes of each train object (the shard step's exactly rounded float32 label sum)
                manifest_objects.append({"key": f"{DATASET}train/{year}.data", "channel": "train", "bytes": len(body),
                                         "records": len(y), "labelSum": math.fsum(y.astype(np.float32).tolist())})
            s3.put_object(Bucket=BUCKET, Key=f"{DATASET}manifest.json",
                          Body=json.dumps({"objects": manifest_objects}).encode())
            train_labels = np.concatenate(
                [generate(60_000, seed=year)[1] for year in range(1979, 1979 + TRAIN_OBJECTS)]
            )
            run_shardlab(url, -1, args.max_request_bytes)  # warm-up: imports, connection pools, moto's first calls

            timings: dict[str, list[float]] = {"notebook": [], "shardlab": []}
            cpu: dict[str, list[tuple[float, float]]] = {"notebook": [], "shardlab": []}
            results: dict[str, dict[str, Any]] = {}
            for run in range(args.rounds):
                # Alternate which path goes first, so neither always follows the other's garbage.
                for name in ("notebook", "shardlab") if run % 2 == 0 else ("shardlab", "notebook"):
                    started, client_cpu, served_cpu = (
                        time.perf_counter(),
                        time.process_time(),
                        server_cpu_seconds(server.pid),
                    )
                    results[name] = (
                        run_notebook(url) if name == "notebook" else run_shardlab(url, run, args.max_request_bytes)
                    )
                    timings[name].append(time.perf_counter() - started)
                    cpu[name].append((time.process_time() - client_cpu, server_cpu_seconds(server.pid) - served_cpu))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)

    ratios = [n / s for n, s in zip(timings["notebook"], timings["shardlab"], strict=True)]
    caller_ratios = [n[0] / s[0] for n, s in zip(cpu["notebook"], cpu["shardlab"], strict=True)]
    total_ratios = [sum(n) / sum(s) for n, s in zip(cpu["notebook"], cpu["shardlab"], strict=True)]
    shardlab = results["shardlab"]
    print(f"test rows: {args.rows}, train rows: {train_labels.size}, both endpoints, {args.rounds} alternating rounds")
    print(f"notebook (predict_batches, sequential, %g CSV): {_all(timings['notebook'])}")
    print(f"shardlab (compare Lambda, concurrent, streamed): {_all(timings['shardlab'])}")
    print(f"wall speed-up per round: {_all(ratios, 'x')}")
    for name, seconds in cpu.items():
        caller, served = _all([c for c, _ in seconds]), _all([s for _, s in seconds])
        print(f"  CPU seconds, {name}: caller {caller}; endpoint server {served}")
    print(
        f"  CPU cross-checks (median): caller CPU ratio {statistics.median(caller_ratios):.2f}x, "
        f"total CPU ratio {statistics.median(total_ratios):.2f}x"
    )
    print(f"  load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")

    exact = {branch: numpy_metrics(test_y, model.predict(test_x)) for branch, model in models().items()}
    exact["baseline"] = numpy_metrics(test_y, np.full(test_y.shape, float(np.mean(train_labels, dtype=np.float64))))
    vs_exact = largest_difference(shardlab, exact)
    vs_notebook = largest_difference(shardlab, results["notebook"])
    print(f"largest relative difference, shardlab vs numpy on the exact float32 features: {vs_exact:.1e}")
    print(f"largest relative difference, shardlab vs notebook (%g-rounded features):    {vs_notebook:.1e}")
    for branch in ("replicated", "sharded", "baseline"):
        print(
            f"  {branch:10s} MSE shardlab {shardlab[branch]['mse']:.9f}"
            f"  notebook {results['notebook'][branch]['mse']:.9f}"
        )
    if vs_exact > 1e-12 or vs_notebook > 1e-4:
        print("NUMBERS DISAGREE")
        return 1
    figures = [
        figure(
            "compare",
            ratios,
            label=f"compare step: score {args.rows:,} test rows on both endpoints, write the report and chart",
            baseline="the seed notebook's `predict_batches` (savetxt CSV, one request at a time), same local server",
            detail=(
                f"wall speed-up; caller CPU {statistics.median(caller_ratios):.2f}x, "
                f"caller + server CPU {statistics.median(total_ratios):.2f}x; report numbers identical"
            ),
        )
    ]
    if args.record:
        record("bench_compare.py", figures, load_before=load_before, seconds=time.perf_counter() - bench_started)
    return check(figures)


def _all(values: list[float], unit: str = " s") -> str:
    return f"median {statistics.median(values):.2f}{unit} (" + ", ".join(f"{value:.2f}" for value in values) + ")"


if __name__ == "__main__":
    sys.exit(main())
