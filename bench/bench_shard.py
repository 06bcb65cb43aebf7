"""Benchmark: shardlab's ``shard_year`` against the seed notebook's data preparation, on one generated year.

Baseline ("notebook"): the workshop's path for one training year with today's libraries: ``pd.read_csv(sep='\\t')``
+ the notebook's ``transform_gdelt`` (``np.isin`` for the removed ``np.in1d``, ``get_dummies``) +
``sample(frac=1, random_state=1729)`` + 90/10 split + ``sagemaker.amazon.common.write_numpy_to_dense_tensor``
into the in-memory buffer the notebook uploads (the upload itself is left out of both sides).
Candidate ("shardlab"): ``dataprep.pipeline.shard_year`` reading the same file through a file-backed
stand-in for the S3 client (GET = open file, PutObject/UploadPart = write to a scratch dir).

Each run is its own process, so peak RSS (``ru_maxrss``) is that path's own peak, imports included (the
notebook imports pandas/numpy/sagemaker, a Lambda has boto3 loaded). Time excludes interpreter start-up and
imports. Prints best-of-N wall seconds (and CPU seconds,
steadier on a busy machine), rows/s, peak RSS, and the two ratios. Targets: >= 2x faster, <= 1/5 memory.

Usage: ``python bench/bench_shard.py [--rows 430941] [--repeat 3]``
"""

# N803: the stand-in takes boto3's keyword names; E712: the notebook's `!= True` filter is kept verbatim.
# ruff: noqa: N803, E712

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REAL_1979_ROWS = 430_941
SEED = 1729
TRAIN_FRACTION = 0.9

# CSV.header.historical.txt (GDELT 1.0): the notebook fetched these names over HTTP.
HISTORICAL_HEADER = [
    "GLOBALEVENTID",
    "SQLDATE",
    "MonthYear",
    "Year",
    "FractionDate",
    "Actor1Code",
    "Actor1Name",
    "Actor1CountryCode",
    "Actor1KnownGroupCode",
    "Actor1EthnicCode",
    "Actor1Religion1Code",
    "Actor1Religion2Code",
    "Actor1Type1Code",
    "Actor1Type2Code",
    "Actor1Type3Code",
    "Actor2Code",
    "Actor2Name",
    "Actor2CountryCode",
    "Actor2KnownGroupCode",
    "Actor2EthnicCode",
    "Actor2Religion1Code",
    "Actor2Religion2Code",
    "Actor2Type1Code",
    "Actor2Type2Code",
    "Actor2Type3Code",
    "IsRootEvent",
    "EventCode",
    "EventBaseCode",
    "EventRootCode",
    "QuadClass",
    "GoldsteinScale",
    "NumMentions",
    "NumSources",
    "NumArticles",
    "AvgTone",
    "Actor1Geo_Type",
    "Actor1Geo_FullName",
    "Actor1Geo_CountryCode",
    "Actor1Geo_ADM1Code",
    "Actor1Geo_Lat",
    "Actor1Geo_Long",
    "Actor1Geo_FeatureID",
    "Actor2Geo_Type",
    "Actor2Geo_FullName",
    "Actor2Geo_CountryCode",
    "Actor2Geo_ADM1Code",
    "Actor2Geo_Lat",
    "Actor2Geo_Long",
    "Actor2Geo_FeatureID",
    "ActionGeo_Type",
    "ActionGeo_FullName",
    "ActionGeo_CountryCode",
    "ActionGeo_ADM1Code",
    "ActionGeo_Lat",
    "ActionGeo_Long",
    "ActionGeo_FeatureID",
    "DATEADDED",
]


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_notebook(path: Path, codes: list[str]) -> dict[str, Any]:
    import io
    import warnings

    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3  # noqa: F401  (imported by the notebook)
    import numpy as np
    import pandas as pd
    import sagemaker.amazon.common as smac

    warnings.simplefilter("ignore")
    events = [int(code) for code in codes]  # the notebook's crosstab index holds int codes

    def transform_gdelt(df: Any, events: Any) -> Any:
        df = df[
            [
                "AvgTone",
                "EventCode",
                "NumArticles",
                "Actor1Geo_Lat",
                "Actor1Geo_Long",
                "Actor2Geo_Lat",
                "Actor2Geo_Long",
            ]
        ]
        df["EventCode"] = df["EventCode"].astype(object)
        df = df[np.isin(df["EventCode"], events)]
        return pd.get_dummies(
            df[
                ((df["Actor1Geo_Lat"] == 0) & (df["Actor1Geo_Long"] == 0) != True)
                & ((df["Actor2Geo_Lat"] == 0) & (df["Actor2Geo_Long"] == 0) != True)
            ]
        )

    def write_buffer(features: Any, labels: Any) -> int:
        buf = io.BytesIO()
        smac.write_numpy_to_dense_tensor(buf, features.astype("float32"), labels.astype("float32"))
        return buf.getbuffer().nbytes

    started, cpu_started = time.perf_counter(), time.process_time()
    df = pd.read_csv(path, sep="\t")
    df.columns = HISTORICAL_HEADER
    rows_read = len(df) + 1  # read_csv consumed the first row as the header
    data = transform_gdelt(df, events).sample(frac=1, random_state=SEED).to_numpy()
    del df
    cut = int(TRAIN_FRACTION * data.shape[0])
    bytes_out = write_buffer(data[:cut, 1:], data[:cut, 0]) + write_buffer(data[cut:, 1:], data[cut:, 0])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "seconds": seconds,
        "cpuSeconds": cpu,
        "rowsRead": rows_read,
        "rowsKept": int(data.shape[0]),
        "bytesOut": bytes_out,
    }


class FileBackedS3:
    """Just the S3 calls shard_year makes, served from local files (the benchmark measures our code, not S3)."""

    def __init__(self, source: Path, scratch: Path) -> None:
        self._source = source
        self._scratch = scratch
        self._uploads: dict[str, Any] = {}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": self._source.open("rb")}

    def _path(self, key: str) -> Path:
        return self._scratch / key.replace("/", "_")

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self._path(Key).write_bytes(Body)
        return {}

    def create_multipart_upload(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        self._uploads[Key] = self._path(Key).open("wb")
        return {"UploadId": Key}

    def upload_part(
        self,
        Bucket: str,
        Key: str,
        UploadId: str,
        PartNumber: int,
        Body: bytes,
        **_: Any,
    ) -> dict[str, Any]:
        self._uploads[UploadId].write(Body)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, **_: Any) -> dict[str, Any]:
        self._uploads.pop(UploadId).close()
        return {}

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        self._uploads.pop(UploadId).close()
        self._path(Key).unlink()
        return {}

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._path(Key).unlink(missing_ok=True)
        return {}


def run_shardlab(path: Path, codes: list[str]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "lambdas"))
    import boto3  # noqa: F401  (loaded in every Lambda Python runtime)

    from dataprep.pipeline import shard_year

    with tempfile.TemporaryDirectory() as scratch:
        s3 = FileBackedS3(path, Path(scratch))
        event = {
            "sourceBucket": "gdelt-open-data",
            "sourcePrefix": "events/",
            "year": 1979,
            "role": "train",
            "eventCodes": codes,
            "seed": SEED,
            "trainFraction": TRAIN_FRACTION,
            "maxBadRowFraction": 0.01,
            "bucket": "bench",
            "datasetPrefix": "datasets/bench/",
            "instanceCount": 5,
        }
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = shard_year(s3, event)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "seconds": seconds,
        "cpuSeconds": cpu,
        "rowsRead": stats["rowsRead"],
        "rowsKept": stats["rowsKept"],
        "bytesOut": stats["bytesOut"],
    }


def child(variant: str, path: Path, codes: list[str]) -> None:
    result = (run_notebook if variant == "notebook" else run_shardlab)(path, codes)
    result["peakRssBytes"] = _peak_rss_bytes()
    print(json.dumps(result))


def measure(variant: str, path: Path, codes: list[str], repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--input", str(path), "--codes", ",".join(codes)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda run: run["seconds"])
    best["cpuSeconds"] = min(run["cpuSeconds"] for run in runs)
    best["peakRssBytes"] = max(run["peakRssBytes"] for run in runs)
    return best


def top_codes(path: Path) -> list[str]:
    sys.path.insert(0, str(ROOT / "lambdas"))
    from dataprep.gdelt import ScanStats, scan_rows
    from dataprep.pipeline import top_event_codes

    counts: dict[bytes, int] = {}
    with path.open("rb") as lines:
        scan_rows(lines, ScanStats(), None, code_counts=counts)
    return top_event_codes(counts, 20)


def main() -> int:
    parser = argparse.ArgumentParser(description="shard_year vs the seed notebook's pandas path")
    parser.add_argument("--rows", type=int, default=REAL_1979_ROWS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["notebook", "shardlab"])
    parser.add_argument("--input", type=Path)
    parser.add_argument("--codes")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.input, args.codes.split(","))
        return 0

    sys.path.insert(0, str(ROOT / "data"))
    from scale_up import write_year

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "1979.csv"
        size = write_year(path, args.rows)
        codes = top_codes(path)
        print(
            f"input: {args.rows:,} generated rows ({size / 2**20:.1f} MiB), top-20 codes of that year; "
            f"best of {args.repeat} runs each, each run in its own process"
        )
        results = {variant: measure(variant, path, codes, args.repeat) for variant in ("notebook", "shardlab")}
    for variant, result in results.items():
        print(
            f"  {variant:9s} {result['seconds']:6.2f} s wall ({result['cpuSeconds']:5.2f} s CPU)  "
            f"{result['rowsRead'] / result['seconds']:>9,.0f} rows/s  "
            f"peak RSS {result['peakRssBytes'] / 2**20:7.1f} MiB  kept {result['rowsKept']:,} rows, "
            f"{result['bytesOut']:,} bytes out"
        )
    base, ours = results["notebook"], results["shardlab"]
    speedup = base["seconds"] / ours["seconds"]
    memory = ours["peakRssBytes"] / base["peakRssBytes"]
    cpu_speedup = base["cpuSeconds"] / ours["cpuSeconds"]
    print(f"speed: shardlab is {speedup:.2f}x the notebook's throughput (target >= 2x); CPU time {cpu_speedup:.2f}x")
    print(f"peak memory: shardlab uses {memory:.3f} of the notebook's peak RSS = 1/{1 / memory:.1f} (target <= 1/5)")
    return 0 if speedup >= 2 and memory <= 0.2 else 1


if __name__ == "__main__":
    sys.exit(main())
