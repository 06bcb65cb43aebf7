"""Helpers shared by explore.ipynb and evaluate.ipynb.

Everything is read through boto3 (S3, SageMaker, SageMaker runtime), so the same notebooks run on the
notebook instance against AWS and on a laptop against local mode: boto3's standard settings
(``AWS_ENDPOINT_URL*``, credentials, region) decide where the requests go. This module ships to the
notebook instance beside the notebooks, where the project's ``lambdas/`` and ``local/`` packages are not
installed, so it depends only on boto3, numpy, pandas and matplotlib.

Defaults, strongest first: an explicit argument, the environment (``SHARDLAB_BUCKET``, ``SHARDLAB_RUN_ID``,
``SHARDLAB_STATE_MACHINE_ARN``, ``SHARDLAB_OUTPUT_DIR``), the ``stack.json`` (bucket, stateMachineArn, region)
that the notebook instance's lifecycle configuration writes beside the notebooks, then the newest run under
``runs/`` in the bucket.
"""

from __future__ import annotations

import csv
import json
import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
STACK_FILE_NAME = "stack.json"
CAMEO_FILE = HERE / "cameo_event_codes.csv"

# GDELT 1.0 historical backfile columns (CSV.header.historical.txt): the yearly files have no header row,
# and bundling the names saves the notebook a download from gdeltproject.org (and works offline).
GDELT_COLUMNS = (
    "GLOBALEVENTID", "SQLDATE", "MonthYear", "Year", "FractionDate",
    "Actor1Code", "Actor1Name", "Actor1CountryCode", "Actor1KnownGroupCode", "Actor1EthnicCode",
    "Actor1Religion1Code", "Actor1Religion2Code", "Actor1Type1Code", "Actor1Type2Code", "Actor1Type3Code",
    "Actor2Code", "Actor2Name", "Actor2CountryCode", "Actor2KnownGroupCode", "Actor2EthnicCode",
    "Actor2Religion1Code", "Actor2Religion2Code", "Actor2Type1Code", "Actor2Type2Code", "Actor2Type3Code",
    "IsRootEvent", "EventCode", "EventBaseCode", "EventRootCode", "QuadClass", "GoldsteinScale",
    "NumMentions", "NumSources", "NumArticles", "AvgTone",
    "Actor1Geo_Type", "Actor1Geo_FullName", "Actor1Geo_CountryCode", "Actor1Geo_ADM1Code",
    "Actor1Geo_Lat", "Actor1Geo_Long", "Actor1Geo_FeatureID",
    "Actor2Geo_Type", "Actor2Geo_FullName", "Actor2Geo_CountryCode", "Actor2Geo_ADM1Code",
    "Actor2Geo_Lat", "Actor2Geo_Long", "Actor2Geo_FeatureID",
    "ActionGeo_Type", "ActionGeo_FullName", "ActionGeo_CountryCode", "ActionGeo_ADM1Code",
    "ActionGeo_Lat", "ActionGeo_Long", "ActionGeo_FeatureID", "DATEADDED",
)
assert len(GDELT_COLUMNS) == 57
# The seed notebook's columns: the label, the event code and the five numeric features.
MODEL_COLUMNS = (
    "AvgTone", "EventCode", "NumArticles", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long",
)
NUMERIC_COLUMNS = ("NumArticles", "AvgTone", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long")
DEFAULT_YEARS = (1979, 1980, 1981, 1982, 1983, 1984)


# --- copied from lambdas/lambda_common/vocabulary.py, held equal by tests/test_vocabulary.py ---------------
# (this module ships alone to the notebook instance, so it cannot import lambdas/)

FULLY_REPLICATED = "FullyReplicated"
SHARDED_BY_S3_KEY = "ShardedByS3Key"
REPLICATED = "replicated"
SHARDED = "sharded"
BRANCHES = (REPLICATED, SHARDED)
_S3_URI = re.compile(r"s3://([^/]+)(?:/(.*))?", re.DOTALL)


def parse_s3_uri(uri: object) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")``; ``s3://bucket`` and ``s3://bucket/`` have the key ``""``."""
    match = _S3_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2) or ""


# --- end of the copy ---------------------------------------------------------------------------------------


# --- where things are ------------------------------------------------------------------------------------


class NotebookSetupError(RuntimeError):
    """The notebook cannot find what it needs (bucket, run, report): says what to set."""


def stack_settings(search: Sequence[Path] | None = None) -> dict[str, Any]:
    """The lifecycle configuration's stack.json (bucket, stateMachineArn, region), or {} off the instance."""
    for folder in search if search is not None else (Path.cwd(), HERE):
        path = folder / STACK_FILE_NAME
        if path.is_file():
            return dict(json.loads(path.read_text()))
    return {}


def session() -> boto3.session.Session:
    """A boto3 session; the region comes from the environment, else from stack.json."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or stack_settings().get("region")
    return boto3.session.Session(region_name=region or None)


def default_bucket(bucket: str | None = None) -> str:
    found = bucket or os.environ.get("SHARDLAB_BUCKET") or stack_settings().get("bucket")
    if not found:
        raise NotebookSetupError(
            "no bucket: set BUCKET in the first cell, or SHARDLAB_BUCKET in the environment "
            "(the stack's BucketName output); on the notebook instance stack.json provides it"
        )
    return str(found)


def default_state_machine_arn(arn: str | None = None) -> str | None:
    """The stack's state machine: the argument, $SHARDLAB_STATE_MACHINE_ARN, else stack.json (None if unknown)."""
    found = arn or os.environ.get("SHARDLAB_STATE_MACHINE_ARN") or stack_settings().get("stateMachineArn")
    return str(found) if found else None


def recent_executions(sfn: Any, state_machine_arn: str, limit: int = 10) -> pd.DataFrame:
    """The newest executions of the state machine, with the run id and verdict of those that succeeded."""
    rows = []
    listed = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)["executions"]
    for execution in listed:
        row = {"execution": execution["name"], "status": execution["status"],
               "started": execution["startDate"], "runId": "", "verdict": ""}
        if execution["status"] == "SUCCEEDED":
            output = json.loads(sfn.describe_execution(executionArn=execution["executionArn"]).get("output") or "{}")
            summary = output.get("summary", {})
            row.update(runId=summary.get("runId", ""), verdict=summary.get("verdict", ""))
        rows.append(row)
    return pd.DataFrame(rows, columns=["execution", "status", "started", "runId", "verdict"])


def run_ids(s3: Any, bucket: str) -> list[tuple[str, Any]]:
    """(run id, report time) of every run under runs/ that has a report.json, oldest first."""
    found: list[tuple[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="runs/"):
        for item in page.get("Contents", []):
            parts = item["Key"].split("/")
            if len(parts) == 3 and parts[2] == "report.json":
                found.append((parts[1], item["LastModified"]))
    return sorted(found, key=lambda pair: pair[1])


def default_run_id(s3: Any, bucket: str, run_id: str | None = None) -> str:
    chosen = run_id or os.environ.get("SHARDLAB_RUN_ID")
    if chosen:
        return chosen.strip("/").removeprefix("runs/")
    runs = run_ids(s3, bucket)
    if not runs:
        raise NotebookSetupError(
            f"s3://{bucket}/runs/ holds no finished run (no report.json): start an execution of the state "
            "machine (or `python -m local run`) and come back when it has succeeded"
        )
    return runs[-1][0]


def output_dir(run_id: str, notebook: str, base: str | Path | None = None) -> Path:
    """Where the plots go: $SHARDLAB_OUTPUT_DIR (the tests' tmp folder) or ./out/<run id>/<notebook>/."""
    root = Path(base or os.environ.get("SHARDLAB_OUTPUT_DIR") or Path.cwd() / "out" / run_id)
    folder = root / notebook
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as error:
        raise NotebookSetupError(f"s3://{bucket}/{key} does not exist") from error
    return dict(json.loads(body))


def read_report(s3: Any, bucket: str, run_id: str) -> dict[str, Any]:
    return read_json(s3, bucket, f"runs/{run_id}/report.json")


def read_manifest(s3: Any, bucket: str, dataset_prefix: str) -> dict[str, Any]:
    return read_json(s3, bucket, f"{dataset_prefix}manifest.json")


# --- raw GDELT ------------------------------------------------------------------------------------------


def read_year(s3: Any, source_bucket: str, source_prefix: str, year: int,
              columns: Sequence[str] = MODEL_COLUMNS) -> pd.DataFrame:
    """One yearly events file as a frame of ``columns`` (EventCode kept as text: "010" is not 10).

    ``header=None``: the files have no header row (the seed notebook's ``read_csv`` lost each file's first
    event to header inference).
    """
    body = s3.get_object(Bucket=source_bucket, Key=f"{source_prefix}{year}.csv")["Body"]
    frame = pd.read_csv(
        body, sep="\t", header=None, names=list(GDELT_COLUMNS), usecols=list(columns),
        dtype={"EventCode": str}, quoting=csv.QUOTE_NONE, low_memory=False,
    )
    frame = frame[list(columns)]
    frame.attrs["year"] = year
    return frame


def top_event_codes(frame: pd.DataFrame, top_n: int = 20) -> list[str]:
    """The ``top_n`` most frequent codes (ties: lower code first), as the pipeline's profile step ranks them."""
    counts = frame["EventCode"].dropna().value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], int(item[0]), item[0]))
    return [code for code, _count in ranked[:top_n]]


def missing_geo(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row: does actor 1 / actor 2 sit at (0, 0), GDELT's "no geocode"? (the seed notebook's filter)"""
    return pd.DataFrame({
        "actor1": (frame["Actor1Geo_Lat"] == 0) & (frame["Actor1Geo_Long"] == 0),
        "actor2": (frame["Actor2Geo_Lat"] == 0) & (frame["Actor2Geo_Long"] == 0),
    })


def cameo_descriptions(path: Path = CAMEO_FILE) -> dict[str, str]:
    """CAMEO event code -> short description, for the codes in the bundled lookup."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["code"]: row["description"] for row in csv.DictReader(handle)}


def describe_code(code: str, lookup: dict[str, str]) -> str:
    return lookup.get(code, "(not in the bundled CAMEO lookup)")


# --- recordIO-protobuf test data ---------------------------------------------------------------------------
# A copy of the minimal decode logic of lambdas/lambda_common/recordio.py (that package is not on the
# notebook instance). Dense records written by the pipeline all have the same byte layout, so an object is a
# stack of fixed-size records; the layout is built here from the protobuf wire format and every record's
# non-float bytes are checked against it, so anything else is refused instead of misread.

RECORDIO_MAGIC = 0xCED7230A


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _varint((field_number << 3) | 2) + _varint(len(payload)) + payload


def _tensor_entry(map_field: int, packed: bytes) -> bytes:
    # Record.features/label (map<string, Value>) entry "values" -> Value.float32_tensor -> packed values
    value = _length_delimited(2, _length_delimited(1, packed))
    return _length_delimited(map_field, _length_delimited(1, b"values") + _length_delimited(2, value))


def dense_record_template(feature_dim: int) -> tuple[bytes, int, int]:
    """A labelled dense record of zeros, the byte offset of its features and of its label."""
    features = _tensor_entry(1, bytes(4 * feature_dim))
    label = _tensor_entry(2, bytes(4))
    payload = features + label
    framed = struct.pack("<II", RECORDIO_MAGIC, len(payload)) + payload + bytes((-len(payload)) % 4)
    return framed, 8 + len(features) - 4 * feature_dim, 8 + len(payload) - 4


def read_dense_recordio(blob: bytes, feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [rows, feature_dim], labels float32 [rows]) of a labelled dense recordIO object."""
    template, feature_offset, label_offset = dense_record_template(feature_dim)
    stride = len(template)
    if len(blob) % stride:
        raise ValueError(f"{len(blob)} bytes is not a whole number of {stride}-byte records of {feature_dim} "
                         "features: not this dataset's recordIO")
    records = np.frombuffer(blob, dtype=np.uint8).reshape(-1, stride)
    fixed = np.ones(stride, dtype=bool)
    fixed[feature_offset : feature_offset + 4 * feature_dim] = False
    fixed[label_offset : label_offset + 4] = False
    expected = np.frombuffer(template, dtype=np.uint8)[fixed]
    mismatched = np.flatnonzero((records[:, fixed] != expected).any(axis=1))
    if mismatched.size:
        raise ValueError(f"record {int(mismatched[0])} is not a labelled dense float32 record of "
                         f"{feature_dim} features")
    features = records[:, feature_offset : feature_offset + 4 * feature_dim].copy().view("<f4")
    labels = records[:, label_offset : label_offset + 4].copy().view("<f4").reshape(-1)
    return features, labels


def read_test_data(s3: Any, report: dict[str, Any], feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The test year's rows: one object, or every object under a prefix in key order (as compare scores them)."""
    bucket, key = parse_s3_uri(report["testData"]["uri"])
    if key.endswith("/"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        if not keys:
            raise ValueError(f"no test objects under s3://{bucket}/{key}")
    else:
        keys = [key]
    parts = [read_dense_recordio(s3.get_object(Bucket=bucket, Key=k)["Body"].read(), feature_dim) for k in keys]
    return np.concatenate([f for f, _ in parts]), np.concatenate([y for _, y in parts])


# --- endpoints and training jobs ----------------------------------------------------------------------------

MAX_REQUEST_BYTES = 5 * 1024 * 1024  # InvokeEndpoint takes at most 6 MiB; stay clear of it


def csv_batches(features: np.ndarray, max_bytes: int = MAX_REQUEST_BYTES) -> Iterator[bytes]:
    """text/csv request bodies (features only, no label), each at most ``max_bytes``.

    Rows are formatted a block at a time: a real test year has about a million rows, and formatting them all
    at once would hold every value as a Python float.
    """
    batch: list[bytes] = []
    size = 0
    for start in range(0, len(features), 10_000):
        for row in features[start : start + 10_000].tolist():
            line = ",".join(f"{value:.9g}" for value in row).encode()
            if batch and size + len(line) + 1 > max_bytes:
                yield b"\n".join(batch)
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 1
    if batch:
        yield b"\n".join(batch)


def predict(runtime: Any, endpoint: str, features: np.ndarray, max_bytes: int = MAX_REQUEST_BYTES) -> np.ndarray:
    """Scores of a Linear Learner regressor endpoint for every row, in order."""
    scores: list[float] = []
    for body in csv_batches(features, max_bytes):
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="application/json",
                                         Body=body)
        predictions = json.loads(answer["Body"].read())["predictions"]
        scores.extend(float(item["score"]) for item in predictions)
    if len(scores) != len(features):
        raise RuntimeError(f"{endpoint} returned {len(scores)} predictions for {len(features)} rows")
    return np.asarray(scores)


def endpoint_in_service(sagemaker: Any, endpoint: str) -> bool:
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    except sagemaker.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":  # "Could not find endpoint"
            return False
        raise


def final_metrics(sagemaker: Any, job_name: str) -> dict[str, float]:
    """The metrics the training job reported at its end (DescribeTrainingJob FinalMetricDataList)."""
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    return {item["MetricName"]: float(item["Value"]) for item in job.get("FinalMetricDataList", [])}


@dataclass(frozen=True)
class ErrorSummary:
    mse: float
    mae: float
    median_absolute_error: float
    bias: float  # mean of prediction - actual

    @classmethod
    def of(cls, actual: np.ndarray, predicted: np.ndarray) -> ErrorSummary:
        error = predicted.astype(np.float64) - actual.astype(np.float64)
        return cls(mse=float(np.mean(error**2)), mae=float(np.mean(np.abs(error))),
                   median_absolute_error=float(np.median(np.abs(error))), bias=float(np.mean(error)))


def verdict_in_words(report: dict[str, Any], tolerance_percent: float = 1.0) -> str:
    """A few sentences from the report's numbers: speed, cost, accuracy, and whether sharding paid off."""
    models = report["models"]
    replicated, sharded = models[REPLICATED], models[SHARDED]
    r_time = replicated["training"]["trainingTimeInSeconds"]
    s_time = sharded["training"]["trainingTimeInSeconds"]
    r_cost = replicated["training"]["billableInstanceSeconds"]
    s_cost = sharded["training"]["billableInstanceSeconds"]
    r_mse, s_mse = replicated["test"]["mse"], sharded["test"]["mse"]
    baseline_mse = report["baseline"]["test"]["mse"]

    sentences = []
    if r_time == s_time:
        sentences.append(f"Both jobs trained for {s_time} s.")
    else:
        faster, slower = ((SHARDED_BY_S3_KEY, FULLY_REPLICATED) if s_time < r_time
                          else (FULLY_REPLICATED, SHARDED_BY_S3_KEY))
        ratio = max(r_time, s_time) / max(min(r_time, s_time), 1)
        sentences.append(f"{faster} trained {ratio:.1f}x faster than {slower} ({s_time} s sharded vs "
                         f"{r_time} s replicated).")
    if r_cost == s_cost:
        sentences.append(f"Both billed {s_cost} instance-seconds.")
    else:
        cheaper = SHARDED_BY_S3_KEY if s_cost < r_cost else FULLY_REPLICATED
        sentences.append(f"{cheaper} billed fewer instance-seconds ({s_cost} sharded vs {r_cost} replicated).")
    change = 100.0 * (s_mse - r_mse) / r_mse if r_mse else 0.0
    if abs(change) < tolerance_percent:
        sentences.append(f"Their test MSEs are within {tolerance_percent:g}% of each other "
                         f"({s_mse:.4g} sharded vs {r_mse:.4g} replicated).")
    else:
        better = FULLY_REPLICATED if change > 0 else SHARDED_BY_S3_KEY
        sentences.append(f"{better} fits the test year better: sharded MSE {s_mse:.4g} is {abs(change):.1f}% "
                         f"{'higher' if change > 0 else 'lower'} than replicated {r_mse:.4g}.")
    beats = [name for name, mse in ((FULLY_REPLICATED, r_mse), (SHARDED_BY_S3_KEY, s_mse)) if mse < baseline_mse]
    if len(beats) == 2:
        sentences.append(f"Both beat the naive baseline (always predict the training mean, MSE {baseline_mse:.4g}).")
    elif beats:
        sentences.append(f"Only {beats[0]} beats the naive baseline (MSE {baseline_mse:.4g}).")
    else:
        sentences.append(f"Neither beats the naive baseline of predicting the training mean (MSE "
                         f"{baseline_mse:.4g}): the features explain little of AvgTone here.")
    if s_time < r_time and abs(change) < tolerance_percent:
        sentences.append("Sharding saved time at no visible cost in accuracy.")
    elif s_time < r_time:
        sentences.append("Sharding saved time; whether that is worth the accuracy change is the trade-off "
                         "this workshop is about.")
    else:
        sentences.append("Sharding did not save training time on this run.")
    return " ".join(sentences)


def save(figure: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path



# --- a sweep's report (lambdas/compare/sweep.py writes it; docs/ARCHITECTURE.md "Sweep report") ------------

SWEEP_KIND = "sweep"  # report.json's "kind" for a sweep (a single run's report has none)
SERIES_COLORS = {REPLICATED: "tab:blue", SHARDED: "tab:orange"}


def is_sweep(report: dict[str, Any]) -> bool:
    return report.get("kind") == SWEEP_KIND


def sweep_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per point and distribution type, as report.md's table; the recommended one marked."""
    recommended = report["recommended"]
    rows = []
    for row in report["points"]:
        rows.append({
            "point": row["point"], "type": row["distributionType"], "instances": row["instanceCount"],
            **{name: value for name, value in row["hyperParameters"].items()},
            "training time (s)": row["trainingTimeInSeconds"], "speed-up": row["speedUp"],
            "billable instance-seconds": row["billableInstanceSeconds"], "USD": row["usd"],
            "test MSE": row["testMse"], "test MAE": row["testMae"], "Pareto": row["pareto"],
            "recommended": (row["point"], row["distributionType"]) == (recommended["point"],
                                                                       recommended["distributionType"]),
        })
    return pd.DataFrame(rows)


def recommended_point_report(s3: Any, report: dict[str, Any]) -> dict[str, Any]:
    """The compare report of the sweep's recommended point (each point has its own, beside its jobs' outputs)."""
    uri = next(row["report"] for row in report["points"] if row["point"] == report["recommended"]["point"])
    bucket, key = parse_s3_uri(uri)
    return read_json(s3, bucket, key)


def plot_sweep(report: dict[str, Any], axes: Sequence[Any]) -> None:
    """sweep.png's three panels on three matplotlib axes: speed-up against instances beside the ideal line (at
    the first point's hyperparameters), test MSE against epochs (at the largest instance count and the first
    point's mini_batch_size), and test MSE against cost with the Pareto frontier and the recommendation."""
    rows = report["points"]
    first = rows[0]["hyperParameters"]
    largest = max(row["instanceCount"] for row in rows)
    speed_axis, epochs_axis, cost_axis = axes
    measure = report["costMeasure"]
    for branch in BRANCHES:
        own = [row for row in rows if row["branch"] == branch]
        speed = sorted((row["instanceCount"], row["speedUp"]) for row in own
                       if row["hyperParameters"] == first and row["speedUp"] is not None)
        epochs = sorted((float(row["hyperParameters"]["epochs"]), row["testMse"]) for row in own
                        if row["instanceCount"] == largest and "epochs" in row["hyperParameters"]
                        and row["hyperParameters"].get("mini_batch_size") == first.get("mini_batch_size"))
        label, color = own[0]["distributionType"], SERIES_COLORS[branch]
        speed_axis.plot([x for x, _ in speed], [y for _, y in speed], marker="o", color=color, label=label)
        epochs_axis.plot([x for x, _ in epochs], [y for _, y in epochs], marker="o", color=color, label=label)
        cost_axis.scatter([row[measure] for row in own], [row["testMse"] for row in own], color=color, label=label)
    instances = sorted({row["instanceCount"] for row in rows if row["hyperParameters"] == first})
    speed_axis.plot(instances, [n / instances[0] for n in instances], linestyle="--", color="gray",
                    label="ideal linear")
    speed_axis.set(title="Speed-up against instances (" + ", ".join(f"{k} {v}" for k, v in first.items()) + ")",
                   xlabel="instances", ylabel="speed-up over FullyReplicated on the fewest")
    epochs_axis.set(title=f"Test MSE against epochs ({largest} instances)", xlabel="epochs", ylabel="test MSE")
    frontier = report["pareto"]
    cost_axis.plot([c["cost"] for c in frontier], [c["testMse"] for c in frontier], color="black",
                   label="Pareto frontier")
    recommended = report["recommended"]
    cost_axis.scatter([recommended["cost"]], [recommended["testMse"]], s=200, facecolors="none",
                      edgecolors="black", label="recommended")
    cost_axis.set(title="Test MSE against cost", xlabel="USD" if measure == "usd" else "billable instance-seconds",
                  ylabel="test MSE")
    for axis in axes:
        axis.legend()
