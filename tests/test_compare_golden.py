"""compare's outputs byte for byte: report.json, report.md and comparison.png of a fixed input against files
written by an earlier run, so a change meant to make the step cheaper cannot change what it reports.

The run is deterministic: a seeded data set, the real local endpoint server, fixed DescribeTrainingJob and
DescribeEndpoint answers, a fixed clock and a fixed scoring time (the only figure that depends on the machine).
A change that is meant to change the outputs rewrites the files with ``SHARDLAB_WRITE_COMPARE_GOLDEN=1``; the
diff of report.json and report.md then shows what changed.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from test_compare_run import RequestLog, clients, event, recordio_bytes

from lambdas.compare import comparison
from lambdas.compare.comparison import CompareRequest, run_comparison
from local.hosting import EndpointRegistry
from local.linear_model import LinearModel
from local.server import LocalSageMakerServer

GOLDEN = Path(__file__).parent / "data" / "compare_golden"
BUCKET = "shardlab-test-bucket"
DATASET = "datasets/0123456789abcdef/"
RUN_PREFIX = "runs/unit-run-1a2b3c4d/"
FEATURES = 8  # article count, a place's latitude and longitude, 5 one-hot event codes


def gdelt_like(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    places = np.round(rng.uniform([-60, -150], [70, 150], (400, 2)), 4).astype(np.float32)
    x = np.zeros((rows, FEATURES), dtype=np.float32)
    x[:, 0] = np.minimum(rng.geometric(0.22, rows), 54)
    x[:, 1:3] = places[rng.integers(0, len(places), rows)]
    x[np.arange(rows), 3 + rng.integers(0, 5, rows)] = 1
    y = 5 + x[:, 3:] @ np.array([1.5, -1.0, 0.5, 2.0, -2.5]) + 0.03 * x[:, 0] + rng.normal(0, 2.2, rows)
    return x, np.clip(y, 0, 28.6).astype(np.float32)


@pytest.fixture
def server() -> Iterator[LocalSageMakerServer]:
    rng = np.random.default_rng(4)
    weights = np.concatenate([[0.03, 0.001, -0.002], rng.normal(0, 1.2, 5)])
    registry = EndpointRegistry()
    registry.register("shardlab-unit-replicated", LinearModel(weights=weights, bias=4.9))
    registry.register("shardlab-unit-sharded", LinearModel(weights=weights * 1.03, bias=4.95))
    with LocalSageMakerServer(registry=registry) as running:
        yield running


@pytest.fixture
def outputs(server: LocalSageMakerServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # scoringSeconds is the one machine-dependent figure: the clock that times scoring reads 0 then 12.5.
    ticks = iter([100.0, 112.5])
    monkeypatch.setattr(comparison, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=f"{DATASET}test/1984.data", Body=recordio_bytes(*gdelt_like(20_000, 1984)))
        for year in (1979, 1980, 1981):
            s3.put_object(
                Bucket=BUCKET, Key=f"{DATASET}train/{year}.data", Body=recordio_bytes(*gdelt_like(3000, year))
            )
        log = RequestLog()
        run_comparison(
            CompareRequest.from_event(event()),
            **clients(server, log),
            metrics_namespace="Shardlab/Test",
            max_request_bytes=60_000,  # about 10 batches, answered out of order
            concurrency_per_endpoint=3,
            now=lambda: datetime.datetime(2026, 11, 27, 14, 0, tzinfo=datetime.UTC),
        )
        assert log.problems == []
        return {
            name: s3.get_object(Bucket=BUCKET, Key=f"{RUN_PREFIX}{name}")["Body"].read()
            for name in ("report.json", "report.md", "comparison.png")
        }


def png_pixels(png: bytes) -> bytes:
    """The PNG's IHDR and decompressed IDAT: the picture, whatever zlib's version compressed it."""
    chunks, position = {}, 8
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8].decode("ascii")
        chunks[kind] = png[position + 8 : position + 8 + length]
        position += 12 + length
    return chunks["IHDR"] + zlib.decompress(chunks["IDAT"])


def test_report_and_chart_are_the_recorded_bytes(outputs: dict[str, bytes]) -> None:
    if os.environ.get("SHARDLAB_WRITE_COMPARE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in ("report.json", "report.md"):
            (GOLDEN / name).write_bytes(outputs[name])
        png = outputs["comparison.png"]
        (GOLDEN / "comparison.png.sha256").write_text(
            f"{hashlib.sha256(png).hexdigest()} png bytes (zlib {zlib.ZLIB_RUNTIME_VERSION})\n"
            f"{hashlib.sha256(png_pixels(png)).hexdigest()} pixels\n"
        )
    assert outputs["report.json"].decode() == (GOLDEN / "report.json").read_text()
    assert outputs["report.md"].decode() == (GOLDEN / "report.md").read_text()
    png_line, pixels_line = (GOLDEN / "comparison.png.sha256").read_text().splitlines()
    assert hashlib.sha256(png_pixels(outputs["comparison.png"])).hexdigest() == pixels_line.split()[0]
    if png_line.endswith(f"(zlib {zlib.ZLIB_RUNTIME_VERSION})"):  # another zlib may compress the same rows apart
        assert hashlib.sha256(outputs["comparison.png"]).hexdigest() == png_line.split()[0]


def test_the_golden_run_covers_what_it_should(outputs: dict[str, bytes]) -> None:
    """The fixed input exercises the paths a cheaper step could get wrong."""
    import json

    report: dict[str, Any] = json.loads(outputs["report.json"])
    assert report["testData"]["rows"] == 20_000 and report["testData"]["batches"] >= 8
    assert report["testData"]["scoringSeconds"] == 12.5
    assert report["baseline"]["trainRows"] == 9000  # the training labels read in the background
    assert report["hosts"]["trainObjects"] == 3  # and the per-host table
