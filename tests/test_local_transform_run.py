"""`scoring` `transform` end to end in local mode: the same verdict as scoring on endpoints, the same MSE on the
same models to 1e-9, and nothing left behind (no model, no endpoint, no running transform job)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from faults_helpers import SMALL_INPUT, wait_until

from lambdas.compare.comparison import _Tally
from lambdas.compare.metrics import metrics_of_sorted_absolute_errors
from lambdas.compare.transform_output import read_transform_scores
from local.runner import LocalShardlab

pytestmark = pytest.mark.slow


def _report(local: LocalShardlab, description: dict[str, Any]) -> dict[str, Any]:
    assert description["status"] == "SUCCEEDED", description.get("cause")
    run_id = json.loads(description["output"])["summary"]["runId"]
    return dict(json.loads(local.read_object(f"runs/{run_id}/report.json")))


def _transform_request(name: str, test_uri: str, output_uri: str) -> dict[str, Any]:
    """What the pipeline's transform task sends (stacks/transform.py), for one branch's model."""
    return {
        "TransformJobName": f"{name}-again", "ModelName": name, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": test_uri}},
                           "ContentType": "application/x-recordio-protobuf", "SplitType": "RecordIO"},
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "application/jsonlines", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    }


@pytest.fixture(scope="module")
def runs(template: dict[str, Any]) -> dict[str, Any]:
    with LocalShardlab(template) as local:
        by_transform = local.run({**SMALL_INPUT, "scoring": "transform"}, name="e2e-transform", timeout_seconds=600)
        sagemaker = boto3.client("sagemaker")
        leftovers = {
            "models": sagemaker.list_models()["Models"],
            "endpoints": sagemaker.list_endpoints()["Endpoints"],
            "running transform jobs": [j for status in ("InProgress", "Stopping") for j in
                                       sagemaker.list_transform_jobs(StatusEquals=status)["TransformJobSummaries"]],
        }
        transform_jobs = sagemaker.list_transform_jobs()["TransformJobSummaries"]
        on_endpoints = local.run({**SMALL_INPUT, "keepEndpoints": True}, name="e2e-endpoints", timeout_seconds=600)
        endpoint_report = _report(local, on_endpoints)
        # The endpoint run's own models (kept), scored again by batch transform, read as compare reads them.
        test_uri = endpoint_report["testData"]["uri"]
        outputs = {}
        for branch, model in endpoint_report["models"].items():
            name = model["endpointName"]
            outputs[branch] = f"s3://{local.deployment.bucket_name}/again/{branch}/"
            sagemaker.create_transform_job(**_transform_request(name, test_uri, outputs[branch]))

            def finished(job: str = f"{name}-again") -> bool:
                status = sagemaker.describe_transform_job(TransformJobName=job)["TransformJobStatus"]
                return bool(status not in ("InProgress", "Stopping"))

            wait_until(finished, what="the transform job")
        tally = _Tally(endpoint_report["baseline"]["prediction"])
        read_transform_scores(boto3.client("s3"), test_uri, outputs, on_scored=tally.on_scored,
                              batches_then_label_spread=tally.batches_then_label_spread)
        (spread,) = tally.spreads
        again = {branch: metrics_of_sorted_absolute_errors(tally.errors[branch].merged(), spread)["mse"]
                 for branch in outputs}
        return {"transform": _report(local, by_transform), "endpoint": endpoint_report, "leftovers": leftovers,
                "transform_jobs": transform_jobs, "again": again}


def test_scoring_by_transform_gives_the_verdict_of_scoring_on_endpoints(runs: dict[str, Any]) -> None:
    transform, endpoint = runs["transform"], runs["endpoint"]
    assert transform["verdict"] == endpoint["verdict"]
    assert transform["testData"]["scoring"] == "transform" and endpoint["testData"]["scoring"] == "endpoint"
    assert transform["testData"]["rows"] == endpoint["testData"]["rows"] > 0
    for branch, model in transform["models"].items():
        assert "endpointName" not in model and model["transformJobName"].endswith(branch)
        assert model["test"]["mse"] == pytest.approx(endpoint["models"][branch]["test"]["mse"], abs=1e-9)


def test_on_the_same_models_transform_and_endpoint_give_the_same_mse(runs: dict[str, Any]) -> None:
    for branch, mse in runs["again"].items():
        assert abs(mse - runs["endpoint"]["models"][branch]["test"]["mse"]) <= 1e-9


def test_a_transform_run_leaves_no_model_endpoint_or_running_transform_job(runs: dict[str, Any]) -> None:
    assert runs["leftovers"] == {"models": [], "endpoints": [], "running transform jobs": []}
    assert sorted(job["TransformJobStatus"] for job in runs["transform_jobs"]) == ["Completed", "Completed"]
