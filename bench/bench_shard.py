"""Benchmark: shardlab's shard step against the seed notebook's data preparation, on one generated year.

Two ways, each side as it really runs:

- From a local file. Baseline ("notebook"): the workshop's path for one training year with today's libraries:
  ``pd.read_csv(sep='\\t')`` + the notebook's ``transform_gdelt`` (``np.isin`` for the removed ``np.in1d``,
  ``get_dummies``) + ``sample(frac=1, random_state=1729)`` + 90/10 split +
  ``sagemaker.amazon.common.write_numpy_to_dense_tensor`` into the in-memory buffers the notebook uploads (no
  upload). Candidate ("shardlab"): ``lambdas.dataprep.pipeline.shard_year`` reading the same file through a file-backed
  stand-in for the S3 client (GET = open file, PutObject/UploadPart = write to a scratch dir).
- Through S3: one S3 endpoint on loopback (moto's server in its own process, as local mode serves S3).
  Baseline: the seed notebook's ``get_gdelt`` and ``write_to_s3``: ``Bucket.download_file`` of the year to a
  local file, the same pandas path, then ``Object.upload_fileobj`` of each channel's buffer. Candidate: the
  shard Lambda's handler (``lambdas.dataprep.handler.shard``, its boto3 client pointed at the endpoint by
  ``AWS_ENDPOINT_URL_S3``), which streams the year in and writes its objects. The objects it writes must be
  byte for byte the ones the file run wrote.

Each run is its own process, so peak RSS (``ru_maxrss``) is that path's own peak, imports included (the
notebook imports pandas/numpy/sagemaker, a Lambda has boto3 loaded). Time excludes interpreter start-up and
imports. The four runs alternate for ``--rounds`` rounds (the order reversed every other round) and each
round gives a ratio; prints every run's wall and CPU seconds, rows/s and peak RSS, then the median, spread and
best of each ratio against its target (``bench/results.py``); exits 1 if a median misses it. ``--record``
writes the figures to ``bench/results.json``.

Usage: ``python bench/bench_shard.py [--rows 430941] [--rounds 5] [--record]``
"""

# N803: the stand-in takes boto3's keyword names; E712: the notebook's `!= True` filter is kept verbatim.
# ruff: noqa: N803, E712

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]
REAL_1979_ROWS = 430_941
SOURCE_BUCKET, SOURCE_KEY = "gdelt-open-data", "events/1979.csv"
BUCKET, DATASET_PREFIX = "bench", "datasets/bench/"
VARIANTS = ("notebook", "shardlab", "notebook-s3", "shardlab-s3")
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


def _notebook_channels(path: Path, codes: list[str]) -> tuple[int, dict[str, Any]]:
    """The seed notebook's pandas path: (rows read, {channel: (features, labels)}) of one training year."""
    import warnings

    import numpy as np
    import pandas as pd

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

    df = pd.read_csv(path, sep="\t")
    df.columns = HISTORICAL_HEADER
    rows_read = len(df) + 1  # read_csv consumed the first row as the header
    data = transform_gdelt(df, events).sample(frac=1, random_state=SEED).to_numpy()
    del df
    cut = int(TRAIN_FRACTION * data.shape[0])
    return rows_read, {"train": (data[:cut, 1:], data[:cut, 0]), "validation": (data[cut:, 1:], data[cut:, 0])}


def _notebook_buffer(features: Any, labels: Any) -> Any:
    import io

    import sagemaker.amazon.common as smac

    buf = io.BytesIO()
    smac.write_numpy_to_dense_tensor(buf, features.astype("float32"), labels.astype("float32"))
    buf.seek(0)
    return buf


def _import_notebook_libraries() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3  # noqa: F401  (imported by the notebook)
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import sagemaker.amazon.common  # noqa: F401


def run_notebook(path: Path, codes: list[str]) -> dict[str, Any]:
    _import_notebook_libraries()
    started, cpu_started = time.perf_counter(), time.process_time()
    rows_read, channels = _notebook_channels(path, codes)
    bytes_out = sum(_notebook_buffer(*channel).getbuffer().nbytes for channel in channels.values())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "seconds": seconds,
        "cpuSeconds": cpu,
        "rowsRead": rows_read,
        "rowsKept": sum(len(labels) for _, labels in channels.values()),
        "bytesOut": bytes_out,
    }


def run_notebook_s3(codes: list[str]) -> dict[str, Any]:
    """The seed notebook's get_gdelt + write_to_s3 against the endpoint in AWS_ENDPOINT_URL_S3."""
    _import_notebook_libraries()
    import boto3

    started, cpu_started = time.perf_counter(), time.process_time()
    s3 = boto3.resource("s3")
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / ".gdelt.csv"
        s3.Bucket(SOURCE_BUCKET).download_file(SOURCE_KEY, str(local))
        rows_read, channels = _notebook_channels(local, codes)
    bytes_out = 0
    for channel, (features, labels) in channels.items():
        buf = _notebook_buffer(features, labels)
        bytes_out += buf.getbuffer().nbytes
        s3.Bucket(BUCKET).Object(f"notebook/{channel}/1979.data").upload_fileobj(buf)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "seconds": seconds,
        "cpuSeconds": cpu,
        "rowsRead": rows_read,
        "rowsKept": sum(len(labels) for _, labels in channels.values()),
        "bytesOut": bytes_out,
    }


def _bytes(body: Any) -> bytes:
    """A request body as boto3 takes it: bytes, or a file to read."""
    return body.read() if hasattr(body, "read") else bytes(body)


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

    def put_object(self, Bucket: str, Key: str, Body: Any, **_: Any) -> dict[str, Any]:
        self._path(Key).write_bytes(_bytes(Body))
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
        Body: Any,
        **_: Any,
    ) -> dict[str, Any]:
        self._uploads[UploadId].write(_bytes(Body))
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


def shard_event(codes: list[str]) -> dict[str, Any]:
    return {
        "sourceBucket": SOURCE_BUCKET,
        "sourcePrefix": SOURCE_KEY.rsplit("/", 1)[0] + "/",
        "year": 1979,
        "role": "train",
        "eventCodes": codes,
        "seed": SEED,
        "trainFraction": TRAIN_FRACTION,
        "maxBadRowFraction": 0.01,
        "bucket": BUCKET,
        "datasetPrefix": DATASET_PREFIX,
        "instanceCount": 5,
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_shardlab(path: Path, codes: list[str]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import boto3  # noqa: F401  (loaded in every Lambda Python runtime)

    from lambdas.dataprep.pipeline import shard_year

    with tempfile.TemporaryDirectory() as scratch:
        s3 = FileBackedS3(path, Path(scratch))
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = shard_year(s3, shard_event(codes))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        digests = {key: _sha256(s3._path(key).read_bytes()) for key in stats["keys"]}
    return {
        "seconds": seconds,
        "cpuSeconds": cpu,
        "rowsRead": stats["rowsRead"],
        "rowsKept": stats["rowsKept"],
        "bytesOut": stats["bytesOut"],
        "objects": digests,
    }


def run_shardlab_s3(codes: list[str]) -> dict[str, Any]:
    """The shard Lambda's handler, its client pointed at the endpoint by AWS_ENDPOINT_URL_S3."""
    sys.path.insert(0, str(ROOT))
    import boto3

    from lambdas.dataprep import handler
    from lambdas.dataprep.pipeline import statistics_key

    event = shard_event(codes)
    started, cpu_started = time.perf_counter(), time.process_time()
    handler.shard(event, None)  # returns a summary; the statistics stay in S3 (the payload bound)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    s3 = boto3.client("s3")
    stats_key = statistics_key(DATASET_PREFIX, int(event["year"]), 0)
    stats = json.loads(s3.get_object(Bucket=BUCKET, Key=stats_key)["Body"].read())
    digests = {key: _sha256(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in stats["keys"]}
    return {
        "seconds": seconds,
        "cpuSeconds": cpu,
        "rowsRead": stats["rowsRead"],
        "rowsKept": stats["rowsKept"],
        "bytesOut": stats["bytesOut"],
        "objects": digests,
    }


def child(variant: str, path: Path | None, codes: list[str]) -> None:
    if variant.endswith("-s3"):
        result = (run_notebook_s3 if variant == "notebook-s3" else run_shardlab_s3)(codes)
    else:
        assert path is not None
        result = (run_notebook if variant == "notebook" else run_shardlab)(path, codes)
    result["peakRssBytes"] = _peak_rss_bytes()
    print(json.dumps(result))


def run_child(variant: str, path: Path, codes: list[str], environment: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--input", str(path), "--codes", ",".join(codes)],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def serve_s3() -> None:
    """moto's S3 server on loopback, in this process, until stdin closes."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()
    server.stop()


def s3_environment(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": url,
    }


def top_codes(path: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from lambdas.dataprep.gdelt import ScanStats, scan_rows
    from lambdas.dataprep.pipeline import top_event_codes

    counts: dict[bytes, int] = {}
    with path.open("rb") as lines:
        scan_rows(lines, ScanStats(), None, code_counts=counts)
    return top_event_codes(counts, 20)


def main() -> int:  # noqa: C901 -- one flag per bench option, read in order
    parser = argparse.ArgumentParser(
        description="shard step vs the seed notebook's pandas path, from a file and via S3"
    )
    parser.add_argument("--rows", type=int, default=REAL_1979_ROWS)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the four runs (median ratios)")
    parser.add_argument("--record", action="store_true", help="write the figures to bench/results.json")
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--codes")
    parser.add_argument("--serve-s3", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_s3:
        serve_s3()
        return 0
    if args.child:
        child(args.child, args.input, args.codes.split(","))
        return 0

    sys.path.insert(0, str(ROOT / "data"))
    import boto3
    from results import check, figure, load_average, record
    from scale_up import write_year

    load_before, bench_started = load_average(), time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-s3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its request log
        text=True,
    )
    try:
        assert server.stdout is not None
        environment = s3_environment(server.stdout.readline().strip())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "1979.csv"
            size = write_year(path, args.rows)
            codes = top_codes(path)
            s3 = boto3.client(
                "s3",
                endpoint_url=environment["AWS_ENDPOINT_URL_S3"],
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
                region_name="us-east-1",
            )
            for bucket in (SOURCE_BUCKET, BUCKET):
                s3.create_bucket(Bucket=bucket)
            s3.upload_file(str(path), SOURCE_BUCKET, SOURCE_KEY)
            print(
                f"input: {args.rows:,} generated rows ({size / 2**20:.1f} MiB), top-20 codes of that year; "
                f"{args.rounds} rounds of the four runs, each run in its own process; S3 at "
                f"{environment['AWS_ENDPOINT_URL_S3']} (moto, its own process)"
            )
            for round_index in range(args.rounds):
                for variant in VARIANTS if round_index % 2 == 0 else reversed(VARIANTS):
                    runs[variant].append(run_child(variant, path, codes, environment))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)

    for variant, results in runs.items():
        seconds = [run["seconds"] for run in results]
        first = results[0]
        print(
            f"  {variant:12s} wall {_seconds(seconds)}, CPU {_seconds([run['cpuSeconds'] for run in results])}; "
            f"{first['rowsRead'] / statistics.median(seconds):>9,.0f} rows/s (median); peak RSS "
            f"{max(run['peakRssBytes'] for run in results) / 2**20:.0f} MiB; kept {first['rowsKept']:,} rows, "
            f"{first['bytesOut']:,} bytes out"
        )
    reference = runs["shardlab"][0]["objects"]
    if any(run["objects"] != reference for run in runs["shardlab"] + runs["shardlab-s3"]):
        print("OUTPUTS DIFFER: the S3 run's objects are not byte for byte the file run's (or runs differ)")
        return 1
    print(f"same bytes out: {len(reference)} objects, identical in every file and S3 run")

    def ratios(base: str, ours: str, field: str) -> list[float]:
        return [b[field] / o[field] for b, o in zip(runs[base], runs[ours], strict=True)]

    cpu_file, cpu_s3 = ratios("notebook", "shardlab", "cpuSeconds"), ratios("notebook-s3", "shardlab-s3", "cpuSeconds")
    memory = [1 / ratio for ratio in ratios("notebook-s3", "shardlab-s3", "peakRssBytes")]
    rss = {
        variant: max(run["peakRssBytes"] for run in runs[variant]) / 2**20 for variant in ("notebook-s3", "shardlab-s3")
    }
    rows = f"one {args.rows:,}-row year (generated from the real sample) to recordIO"
    figures = [
        figure(
            "shard_s3",
            ratios("notebook-s3", "shardlab-s3", "seconds"),
            label=f"shard step through S3 (loopback): {rows}",
            baseline="the seed notebook's `download_file` + pandas + `upload_fileobj` per channel, same S3 endpoint",
            detail=f"wall speed-up; CPU {statistics.median(cpu_s3):.2f}x; same bytes out as from a file",
        ),
        figure(
            "shard_file",
            ratios("notebook", "shardlab", "seconds"),
            label=f"`shard_year` from a local file: {rows}",
            baseline="the seed notebook's pandas `read_csv` + `get_dummies` + `sample` + the SDK writer",
            detail=f"wall speed-up; CPU {statistics.median(cpu_file):.2f}x",
        ),
        figure(
            "shard_memory",
            memory,
            label="shard step's peak RSS through S3, each run in its own process",
            baseline="the notebook path's peak RSS through S3",
            detail=f"{rss['shardlab-s3']:.0f} MiB vs {rss['notebook-s3']:.0f} MiB at most",
        ),
    ]
    if args.record:
        record("bench_shard.py", figures, load_before=load_before, seconds=time.perf_counter() - bench_started)
    return check(figures)


def _seconds(values: list[float]) -> str:
    return f"median {statistics.median(values):5.2f} s (" + ", ".join(f"{value:.2f}" for value in values) + ")"


if __name__ == "__main__":
    sys.exit(main())
