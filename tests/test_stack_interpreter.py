"""The synthesized definition runs on moto's Step Functions interpreter (what local mode relies on).

Lambda tasks run in-process (local/sfn_hooks); SageMaker tasks reach moto's own SageMaker backend, which
completes training jobs and endpoints at once. workflow_input and run_cleanup are the real handlers; the
data-preparation and compare Lambdas are fakes returning their contract shapes, so this pins the
definition's JSONPath, intrinsics, Map, Parallel, Choice, Wait, Catch and Fail ErrorPath/CausePath.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.cleanup import handler as cleanup_handler
from lambdas.workflow_input import handler as workflow_input_handler
from local import sfn_hooks
from local.executions import wait_for_execution
from local.fake_aws import REGION, role_arn
from local.template import lambda_functions

BUCKET = "shardlab-test-bucket"


class FakePipeline:
    """Records each Lambda event; answers with the contract's shapes."""

    def __init__(self, *, cached: bool = False, compare_error: str | None = None) -> None:
        self.cached = cached
        self.compare_error = compare_error
        self.events: dict[str, list[dict[str, Any]]] = {}

    def _record(self, name: str, event: dict[str, Any]) -> None:
        self.events.setdefault(name, []).append(event)

    def preflight(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self._record("preflight", event)
        return {"region": REGION, "checked": [], "unchecked": [], "costProjection": {"worstCaseUsd": 4.66}}

    def profile(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self._record("profile", event)
        codes = [f"{c:03d}" for c in range(10, 10 + event["topEventCodes"])]
        return {"cached": self.cached, "eventCodes": codes, "counts": dict.fromkeys(codes, 7),
                "featureDim": 5 + len(codes),
                "manifest": f"s3://{event['bucket']}/{event['datasetPrefix']}manifest.json" if self.cached else None}

    def shard(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self._record("shard", event)
        return {"year": event["year"], "group": event["group"], "role": event["role"], "rowsKept": 9, "objects": 1}

    def finalize(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self._record("finalize", event)
        return {"manifest": f"s3://{event['bucket']}/{event['datasetPrefix']}manifest.json", "featureDim": 25,
                "channels": {c: {"objects": 1, "records": 9} for c in ("train", "validation", "test")}}

    def compare(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        self._record("compare", event)
        if self.compare_error:
            raise RuntimeError(self.compare_error)
        return {"verdict": "FullyReplicated fits slightly better; ShardedByS3Key trains faster."}


def _run(template: dict[str, Any], definition: dict[str, Any], fake: FakePipeline,
         execution_input: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Any]:
    monkeypatch.setenv("SHARDLAB_BUCKET", BUCKET)
    monkeypatch.setenv("SHARDLAB_PREFIX", "shardlab")
    monkeypatch.delenv("SHARDLAB_DEFAULTS", raising=False)
    handlers = {
        "lambdas.workflow_input.handler.handler": workflow_input_handler.handler,
        "lambdas.preflight.handler.handler": fake.preflight,
        "lambdas.dataprep.handler.profile": fake.profile,
        "lambdas.dataprep.handler.shard": fake.shard,
        "lambdas.dataprep.handler.finalize": fake.finalize,
        "lambdas.compare.handler.handler": fake.compare,
        "lambdas.cleanup.handler.run_cleanup": cleanup_handler.run_cleanup,
    }
    functions = {
        logical_id: sfn_hooks.LocalFunction(handlers[spec["handler"]])
        for logical_id, spec in lambda_functions(template).items()
        if spec["handler"] in handlers
    }
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), sfn_hooks.installed(functions):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        arn = sfn.create_state_machine(name="shardlab-pipeline", definition=json.dumps(definition),
                                       roleArn=role_arn("sfn"))["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name="first-run",
                                        input=json.dumps(execution_input))["executionArn"]
        description = wait_for_execution(sfn, execution, timeout_seconds=60)
        state = {
            "training": {j["TrainingJobName"]: sagemaker.describe_training_job(TrainingJobName=j["TrainingJobName"])
                         for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]},
            "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]],
            "models": [m["ModelName"] for m in sagemaker.list_models()["Models"]],
        }
    return description, state


@pytest.fixture
def region_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for key in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)


def test_whole_pipeline_runs_and_cleans_up(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    fake = FakePipeline()
    execution_input = {"endpointPollSeconds": 1, "hyperParameters": {"epochs": "3"}}
    description, state = _run(template, definition, fake, execution_input, monkeypatch)
    assert description["status"] == "SUCCEEDED", description
    assert json.loads(description["output"])["summary"]["verdict"].startswith("FullyReplicated")

    # The Map runs a few years at a time, so the calls arrive in any order.
    shards = sorted((e["year"], e["role"]) for e in fake.events["shard"])
    assert shards == [(y, "train") for y in range(1979, 1984)] + [(1984, "test")]
    assert {len(e["eventCodes"]) for e in fake.events["shard"]} == {20}
    assert fake.events["profile"][0]["year"] == 1979
    (preflight,) = fake.events["preflight"]
    assert {k: v for k, v in preflight.items() if k != "endpointPollSchedule"} == {
        "instanceCount": 5, "trainingInstanceType": "ml.c5.2xlarge", "hostingInstanceType": "ml.m5.xlarge",
        "useSpotInstances": False, "maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 7200, "maxCostUsd": None,
        "scoring": "endpoint", "transformTimeoutSeconds": 3600, "sweep": None, "scoringBoundSeconds": 900}
    assert sum(preflight["endpointPollSchedule"]) >= 3600  # the endpoints' longest wait, for the worst case
    compare = fake.events["compare"][0]
    prefix = compare["parameters"]["datasetPrefix"]
    assert compare["testData"] == f"s3://{BUCKET}/{prefix}test/"
    assert compare["trainData"] == f"s3://{BUCKET}/{prefix}train/"
    names = compare["endpoints"]
    assert names == compare["trainingJobs"] == compare["parameters"]["names"]
    assert names["replicated"].startswith("shardlab-first-run-") and names["sharded"].endswith("-sharded")

    jobs = state["training"]
    assert set(jobs) == set(names.values())
    replicated = jobs[names["replicated"]]
    assert replicated["HyperParameters"]["feature_dim"] == "25"
    assert replicated["HyperParameters"]["epochs"] == "3"
    assert replicated["HyperParameters"]["loss"] == "absolute_loss"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in replicated["InputDataConfig"]}
    assert channels["train"]["S3DataDistributionType"] == "FullyReplicated"
    assert channels["train"]["S3Uri"] == f"s3://{BUCKET}/{prefix}train/"
    sharded_channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]
                        for c in jobs[names["sharded"]]["InputDataConfig"]}
    assert sharded_channels["train"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert sharded_channels["validation"]["S3DataDistributionType"] == "FullyReplicated"
    assert replicated["ResourceConfig"]["InstanceCount"] == 5
    assert replicated["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/runs/{compare['runId']}/training/"
    # keepEndpoints defaults to false: the run deleted its endpoints and models.
    assert state["endpoints"] == [] and state["models"] == []


def test_cached_dataset_skips_sharding_and_keep_endpoints_keeps_them(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    fake = FakePipeline(cached=True)
    execution_input = {"endpointPollSeconds": 1, "keepEndpoints": True}
    description, state = _run(template, definition, fake, execution_input, monkeypatch)
    assert description["status"] == "SUCCEEDED", description
    assert "shard" not in fake.events and "finalize" not in fake.events
    assert sorted(state["endpoints"]) == sorted(fake.events["compare"][0]["endpoints"].values())


def test_failure_after_training_cleans_up_and_fails_with_the_original_error(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    fake = FakePipeline(compare_error="endpoint answered 500 for batch 3")
    description, state = _run(template, definition, fake, {"endpointPollSeconds": 1}, monkeypatch)
    assert description["status"] == "FAILED"
    assert description["error"] == "ComparisonFailed"  # the failing stage ...
    assert description["cause"].startswith("RuntimeError: ")  # ... then the step's own error and cause
    assert "endpoint answered 500 for batch 3" in description["cause"]
    assert state["endpoints"] == [] and state["models"] == []


def test_monthly_and_daily_years_shard_as_one_map_item_per_month(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    fake = FakePipeline()
    description, _ = _run(template, definition, fake,
                          {"trainYears": [2005, 2010], "testYear": 2015, "endpointPollSeconds": 1}, monkeypatch)
    assert description["status"] == "SUCCEEDED", description
    items = sorted((e["year"], e["group"], e["role"]) for e in fake.events["shard"])
    assert items == [(2005, 0, "train")] + [(2010, g, "train") for g in range(12)] + [(2015, g, "test")
                                                                                      for g in range(12)]
    assert {e["instanceCount"] for e in fake.events["shard"]} == {5}
    # finalize gets the Map's items (each group's statistics and keys stay in S3; the Map's results are discarded)
    finalize = fake.events["finalize"][0]
    assert [(s["year"], s["group"], s["role"]) for s in finalize["shards"]] == sorted(items)
    assert set(finalize) == {"bucket", "datasetPrefix", "profile", "shards", "instanceCount"}


def test_invalid_input_fails_first_with_the_field_named_and_creates_nothing(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    fake = FakePipeline()
    description, state = _run(template, definition, fake, {"trainYears": [1979, 2999]}, monkeypatch)
    assert description["status"] == "FAILED"
    assert "trainYears[1]" in description.get("cause", "")
    assert fake.events == {} and state["training"] == {} and state["endpoints"] == []


def _script_endpoint_statuses(monkeypatch: pytest.MonkeyPatch, statuses: dict[str, list[str]],
                              reason: str = "") -> dict[str, int]:
    """moto's endpoints are InService at once; play a status sequence per branch suffix instead."""
    from moto.sagemaker import models as sagemaker_models

    original = sagemaker_models.SageMakerModelBackend.describe_endpoint
    calls: dict[str, int] = {}

    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        response = dict(original(self, endpoint_name))
        branch = endpoint_name.rsplit("-", 1)[1]
        sequence = statuses[branch]
        index = calls.get(branch, 0)
        calls[branch] = index + 1
        response["EndpointStatus"] = sequence[min(index, len(sequence) - 1)]
        if response["EndpointStatus"] == "Failed":
            response["FailureReason"] = reason
        return response

    monkeypatch.setattr(sagemaker_models.SageMakerModelBackend, "describe_endpoint", describe_endpoint)
    return calls


def test_the_wait_loop_polls_until_both_endpoints_are_in_service(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    calls = _script_endpoint_statuses(monkeypatch, {"replicated": ["Creating", "Creating", "InService"],
                                                    "sharded": ["Creating", "InService"]})
    description, state = _run(template, definition, FakePipeline(), {"endpointPollSeconds": 1}, monkeypatch)
    assert description["status"] == "SUCCEEDED", description
    # The state machine's polls (3 and 2), then one describe each by the clean-up.
    assert calls == {"replicated": 4, "sharded": 3}
    assert state["endpoints"] == []


def test_a_failed_endpoint_fails_the_run_with_its_reason_after_cleaning_up(
    template: dict[str, Any], definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, region_env: None
) -> None:
    _script_endpoint_statuses(monkeypatch, {"replicated": ["InService"], "sharded": ["Creating", "Failed"]},
                              reason="The primary container for production variant AllTraffic did not pass the ping")
    fake = FakePipeline()
    description, state = _run(template, definition, fake, {"endpointPollSeconds": 1}, monkeypatch)
    assert description["status"] == "FAILED"
    assert description["error"] == "HostingFailed"
    assert description["cause"].startswith("EndpointFailed: ")
    assert "did not pass the ping" in description["cause"]
    assert "compare" not in fake.events
    assert state["endpoints"] == [] and state["models"] == []
