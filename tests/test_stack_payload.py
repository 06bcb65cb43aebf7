"""Step Functions fails an execution whose state input, output or task result is over 256 KiB (262,144 bytes
of UTF-8 JSON) with States.DataLimitExceeded, which no Catch sees (so no clean-up would run). Every valid
input must keep every payload of the definition well under that limit.

The worst case is computed by running the decoded definition on moto's interpreter (the data flow of every
InputPath, Parameters, ResultSelector, ResultPath and OutputPath as local mode runs it, with AWS's limit
installed by local/payload_limit.py) for the extreme valid inputs: the most Map items a run may have (every
period shape: yearly files, monthly files, daily files) with instanceCount 100 and 1, the largest
topEventCodes, hyperParameters, sourcePrefix and execution name; then the same data parameters again (the
cached dataset's path) with the comparison failing with the longest cause Step Functions keeps (the failure
path: Catch, clean-up, Fail). The data-preparation Lambdas are the real handlers over an in-memory bucket
(the real code, at the full extreme scale: 200 groups of 100 train parts each, in seconds); validate-input
and clean-up are the real handlers; SageMaker is moto's. Every size measured on the way is recorded, and the
largest must stay under half the limit: numbers grow with real data (rows, bytes: a few digits each) and AWS
adds fields moto's descriptions lack (metrics, status transitions).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdas.cleanup import handler as cleanup_handler
from lambdas.dataprep import handler as dataprep_handler
from lambdas.lambda_common.gdelt_sources import FIRST_YEAR, latest_complete_year
from lambdas.preflight.cost_ceiling import price_sheet, project
from lambdas.preflight.quotas import ASSUMED_NOTE
from lambdas.workflow_input import handler as workflow_input_handler
from lambdas.workflow_input.config import MAX_PREFIX_LENGTH
from lambdas.workflow_input.schema import MAX_EVENT_CODES, MAX_INSTANCE_COUNT, MAX_SHARD_ITEMS
from lambdas.workflow_input.sweep import MAX_SWEEP_POINTS
from lambdas.workflow_input.validators import MAX_HYPERPARAMETER_BYTES, MAX_KEY_PREFIX_LENGTH
from local import payload_limit, sfn_hooks
from local.executions import wait_for_execution
from local.fake_aws import REGION, role_arn
from local.template import lambda_functions

HEADROOM = 0.5
BUCKET = "shardlab-payload-bound-bucket-with-a-long-name-0123456789abcdef"[:63]
SOURCE_BUCKET = "gdelt-open-data"
# Step Functions keeps at most 32,768 characters of an error's cause (the API's `cause` shapes).
MAX_CAUSE = 32_768
MAX_EXECUTION_NAME = 80
SWEEP_SUMMARY_BOUND = 16 * 1024  # the sweep report's summary (lambdas.compare.sweep), at most
# MAX_SWEEP_POINTS points (6 x 2 x 2) with the largest shard plan a sweep may have (lcm 100 = MAX_INSTANCE_COUNT
# train objects per group) and the longest swept values
LARGEST_SWEEP = {"instanceCount": [100, 50, 25, 20, 10, 4],
                 "hyperParameters": {"epochs": ["999999", "999998"], "mini_batch_size": ["999999", "999998"]}}
ROWS_PER_FILE = 300  # a yearly or monthly file: one row per code of the largest topEventCodes
ROWS_PER_DAY = 12  # a month of daily files still holds every code (31 x 12 > 300)


def source_body(key: str) -> bytes:
    """Synthetic GDELT rows for any source key: every row valid and kept, the codes spread over 300+."""
    name = key.rsplit("/", 1)[-1]
    daily = name.endswith(".export.csv")
    day = int(name[6:8]) if daily else 1
    rows = ROWS_PER_DAY if daily else ROWS_PER_FILE
    lines = []
    for i in range(rows):
        fields = [""] * (58 if daily else 57)
        code = 100 + ((day - 1) * rows + i) % (MAX_EVENT_CODES + 20)
        fields[0], fields[26], fields[33], fields[34] = str(i + 1), str(code), "3", "2.5"
        fields[39:41] = ["10", "8"]
        fields[46:48] = ["38.8951", "-77.0364"]
        lines.append("\t".join(fields) + "\n")
    return "".join(lines).encode()


class MemoryS3:
    """The S3 calls data preparation makes, in memory (moto would take minutes for 20,000 objects); source
    objects are generated on read."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    @staticmethod
    def _missing(key: str) -> ClientError:
        return ClientError({"Error": {"Code": "NoSuchKey", "Message": f"no {key}"}}, "GetObject")

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if Bucket == SOURCE_BUCKET:
            return {"Body": io.BytesIO(source_body(Key))}
        if (Bucket, Key) not in self.objects:
            raise self._missing(Key)
        return {"Body": io.BytesIO(self.objects[Bucket, Key])}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Bucket, Key] = Body.read() if hasattr(Body, "read") else bytes(Body)
        return {}

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"ContentLength": len(self.objects[Bucket, Key])}

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self.objects.pop((Bucket, Key), None)
        return {}

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", ContinuationToken: str = "",
                        **_: Any) -> dict[str, Any]:
        keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix) and k > ContinuationToken)
        page = keys[:1000]
        response: dict[str, Any] = {"Contents": [{"Key": k, "Size": len(self.objects[Bucket, k])} for k in page],
                                    "IsTruncated": len(keys) > 1000}
        if response["IsTruncated"]:
            response["NextContinuationToken"] = page[-1]
        return response


class Pipeline:
    """The Lambdas of one worst-case run: real handlers where the size comes from their code."""

    def __init__(self, s3: MemoryS3, *, compare_error: str | None = None) -> None:
        self.s3 = s3
        self.compare_error = compare_error

    def preflight(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        # The report's largest shape: all four quotas, each checked, assumed and unchecked.
        entry = {"quota": f"{event['trainingInstanceType']} for spot training job usage", "code": "L-12345678",
                 "value": 10_000.0, "need": 2 * event["instanceCount"], "source": "assumed default",
                 "reason": "Service Quotas lists no value for this quota in this region (AccessDenied ...)"}
        # The cost projection as the pre-flight computes it (the bundled price table's prices).
        sheet = price_sheet(None, REGION, event)
        projection = project(event, sheet, scoring_bound_seconds=event["scoringBoundSeconds"])
        report = {"region": REGION, "checked": [entry] * 4, "assumedDefault": [{**entry, "note": ASSUMED_NOTE}] * 4,
                  "unchecked": [entry] * 4, "costProjection": projection, "sweep": None}
        if event.get("sweep"):
            # all points at once (the most concurrent iterations), with the longest note a quota could give
            points = len(event["sweep"]["points"])
            report["sweep"] = {"points": points, "concurrency": points, "limitedBy": entry["quota"],
                               "note": "n" * 1000}
        return report

    def sweep_report(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        """The sweep report's summary: its contract keeps it under 16 KB; this one is that large."""
        uri = f"s3://{event['bucket']}/{event['runPrefix']}"
        summary = {"runId": event["runId"], "report": {"json": f"{uri}report.json", "markdown": f"{uri}report.md",
                                                      "chart": f"{uri}sweep.png"}}
        summary["recommendation"] = "r" * (SWEEP_SUMMARY_BOUND - len(json.dumps(summary)) - 20)
        return summary

    def compare(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        if self.compare_error:
            raise RuntimeError(self.compare_error)
        uri = f"s3://{event['bucket']}/{event['runPrefix']}"
        return {"runId": event["runId"], "verdict": "ShardedByS3Key trained 3.8x faster than FullyReplicated; "
                "its test MSE is 0.3% higher (3.3981 vs 3.3935 on 330,368 test rows; naive baseline 9.9999)",
                "report": {"json": f"{uri}report.json", "markdown": f"{uri}report.md",
                           "chart": f"{uri}comparison.png"},
                "testRows": 10**12, "trainingSpeedUp": 3.123456789, "mseChangePercent": -0.123456789,
                "testMse": {"replicated": 3.123456789, "sharded": 3.123456789, "naiveBaseline": 9.123456789},
                "trainingTimeInSeconds": {"replicated": 123456, "sharded": 123456}, "metricsPublished": 12}


def extreme_years() -> Iterator[tuple[list[int], int]]:
    """(trainYears, testYear) with the most Map items, mixing every period shape; and all yearly files."""
    later = list(range(2006, latest_complete_year() + 1))[: MAX_SHARD_ITEMS // 12]
    earlier = list(range(FIRST_YEAR, 2006))[: MAX_SHARD_ITEMS - 12 * len(later)]
    years = earlier + later
    yield years[:-1], years[-1]
    yearly = list(range(FIRST_YEAR, 2006))
    yield yearly[:-1], yearly[-1]


def largest_hyperparameters() -> dict[str, str]:
    """hyperParameters whose JSON is exactly the schema's byte bound (each value at most 2,500 characters)."""
    values: dict[str, str] = {}
    while True:
        key = f"h{len(values)}"
        room = MAX_HYPERPARAMETER_BYTES - len(json.dumps({**values, key: ""}, separators=(",", ":")))
        if room <= 0:
            return values
        values[key] = "x" * min(room, 2500)


def extreme_input(train_years: list[int], test_year: int, instance_count: int) -> dict[str, Any]:
    return {
        "trainYears": train_years, "testYear": test_year, "instanceCount": instance_count,
        "topEventCodes": MAX_EVENT_CODES, "hyperParameters": largest_hyperparameters(),
        "sourcePrefix": "events/" + "p" * (MAX_KEY_PREFIX_LENGTH - len("events/") - 1) + "/",
        "trainingInstanceType": "ml.c5.2xlarge", "endpointPollSeconds": 1,
    }


def run(template: dict[str, Any], definition: dict[str, Any], pipeline: Pipeline, *,
        execution_input: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, Any]:
    monkeypatch.setattr(dataprep_handler, "_s3", lambda: pipeline.s3)
    handlers = {
        "lambdas.workflow_input.handler.handler": workflow_input_handler.handler,
        "lambdas.preflight.handler.handler": pipeline.preflight,
        "lambdas.dataprep.handler.profile": dataprep_handler.profile,
        "lambdas.dataprep.handler.shard": dataprep_handler.shard,
        "lambdas.dataprep.handler.finalize": dataprep_handler.finalize,
        "lambdas.compare.handler.handler": pipeline.compare,
        "lambdas.compare.handler.sweep_report": pipeline.sweep_report,
        "lambdas.cleanup.handler.run_cleanup": cleanup_handler.run_cleanup,
    }
    functions = {logical_id: sfn_hooks.LocalFunction(handlers[spec["handler"]])
                 for logical_id, spec in lambda_functions(template).items() if spec["handler"] in handlers}
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), sfn_hooks.installed(functions):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name="shardlab-pipeline", definition=json.dumps(definition),
                                       roleArn=role_arn("sfn"))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name=name.ljust(MAX_EXECUTION_NAME, "n"),
                                        input=json.dumps(execution_input))["executionArn"]
        description = wait_for_execution(sfn, execution, timeout_seconds=240)
        jobs = boto3.client("sagemaker", region_name=REGION).list_training_jobs(MaxResults=100)
        return {**description, "trainingJobs": len(jobs["TrainingJobSummaries"])}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("SHARDLAB_BUCKET", BUCKET)
    monkeypatch.setenv("SHARDLAB_PREFIX", "shardlab-prefix-xyz"[:MAX_PREFIX_LENGTH])  # the longest prefix
    monkeypatch.delenv("SHARDLAB_DEFAULTS", raising=False)
    monkeypatch.delenv("SHARDLAB_SOURCE_LOCATIONS", raising=False)
    for key in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)


# The extreme inputs, in three parts that run side by side under pytest-xdist: the most Map items (every period
# shape) with instanceCount 100 and 1, its cached dataset's failure path; all yearly files; the largest sweep.
CASES = ("most map items", "yearly files", "largest sweep")


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_every_valid_input_stays_well_under_the_payload_limit(
    case: str, template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
    environment: None,
) -> None:
    sizes: list[int] = []
    worst: dict[str, int] = {}
    with payload_limit.observed(sizes.append):
        if case != "largest sweep":
            train_years, test_year = list(extreme_years())[CASES.index(case)]
            for instance_count in (MAX_INSTANCE_COUNT, 1):
                s3 = MemoryS3()
                execution_input = extreme_input(train_years, test_year, instance_count)
                label = f"{len(train_years) + 1} years, instanceCount {instance_count}"
                first = run(template, definition, Pipeline(s3), execution_input=execution_input,
                            monkeypatch=monkeypatch, name="prepare")
                assert first["status"] == "SUCCEEDED", (label, first.get("error"), first.get("cause", "")[:300])
                worst[label] = max(sizes)
                sizes.clear()
                if case != "most map items" or instance_count != MAX_INSTANCE_COUNT:
                    continue
                # The same data parameters: the cached dataset's path, then the failure path with the longest
                # cause (the most Map items and instances: the largest config and dataset of all).
                again = run(template, definition, Pipeline(s3, compare_error="e" * MAX_CAUSE),
                            execution_input=execution_input, monkeypatch=monkeypatch, name="cached")
                assert again["error"] == "ComparisonFailed", (label, again.get("error"),
                                                              again.get("cause", "")[:300])
                worst[f"{label}, cached, failed"] = max(sizes)
                sizes.clear()
        else:
            # The largest sweep on the most Map items: every point's iteration, the sweep report, the clean-up
            # of every point; then a point failing with the longest cause.
            train_years, test_year = next(extreme_years())
            s3 = MemoryS3()
            sweep_input = {**extreme_input(train_years, test_year, 1), "sweep": LARGEST_SWEEP}
            del sweep_input["instanceCount"]
            label = f"{len(train_years) + 1} years, sweep of {MAX_SWEEP_POINTS} points"
            first = run(template, definition, Pipeline(s3), execution_input=sweep_input, monkeypatch=monkeypatch,
                        name="sweep")
            assert first["status"] == "SUCCEEDED", (label, first.get("error"), first.get("cause", "")[:300])
            assert first["trainingJobs"] == 2 * MAX_SWEEP_POINTS, first["trainingJobs"]  # every point trained
            worst[label] = max(sizes)
            sizes.clear()
            # Every point at once (the clean-up's output names every point's jobs: the largest failure path).
            failed = run(template, definition, Pipeline(s3, compare_error="e" * MAX_CAUSE),
                         execution_input=sweep_input, monkeypatch=monkeypatch, name="sweepfail")
            assert failed["error"] == "SweepFailed", (label, failed.get("error"), failed.get("cause", "")[:300])
            worst[f"{label}, cached, failed"] = max(sizes)
            sizes.clear()
    print(worst)  # the figures (pytest -s)
    assert max(worst.values()) <= payload_limit.PAYLOAD_LIMIT_BYTES * HEADROOM, worst
