"""Spot done fully, end to end in local mode: with useSpotInstances the jobs checkpoint under
runs/<run id>/checkpoints/<branch>/ (which the run data expiry covers), a spot interruption injected in the fault
plan resumes the job from its checkpoint, and the report gives training vs billable seconds and the savings."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from faults_helpers import SMALL_INPUT

from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan
from local.template import resources_of_type

pytestmark = pytest.mark.slow


def test_a_spot_interruption_resumes_from_the_checkpoint_and_the_report_shows_the_savings(
    template: dict[str, Any],
) -> None:
    faults = FaultPlan(spot_interruptions={"*-sharded": 1})
    spot_input = {**SMALL_INPUT, "useSpotInstances": True, "hyperParameters": {"epochs": "2", "num_models": "4"}}
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        description = local.run(spot_input)
        assert description["status"] == "SUCCEEDED", description
        summary = json.loads(description["output"])["summary"]
        run_prefix = f"runs/{summary['runId']}/"
        sagemaker = boto3.client("sagemaker")
        names = {branch: f"shardlab-{summary['runId']}-{branch}" for branch in ("replicated", "sharded")}
        sharded = sagemaker.describe_training_job(TrainingJobName=names["sharded"])
        statuses = [t["Status"] for t in sharded["SecondaryStatusTransitions"]]
        assert "Interrupted" in statuses and statuses[-1] == "Completed"
        for branch, name in names.items():
            job = sagemaker.describe_training_job(TrainingJobName=name)
            assert job["CheckpointConfig"]["S3Uri"] == f"s3://{local.deployment.bucket_name}/{run_prefix}checkpoints/{branch}/"
        listed = boto3.client("s3").list_objects_v2(Bucket=local.deployment.bucket_name,
                                                    Prefix=f"{run_prefix}checkpoints/")
        keys = sorted(item["Key"] for item in listed.get("Contents", []))
        assert keys == [f"{run_prefix}checkpoints/{branch}/linear-learner-epoch-{epoch:04d}.npz"
                        for branch in ("replicated", "sharded") for epoch in (1, 2)]

        report = json.loads(local.read_object(f"{run_prefix}report.json"))
        for branch in ("replicated", "sharded"):
            cost = report["cost"]["branches"][branch]["training"]
            assert cost["managedSpotTraining"] is True
            training, billable = cost["trainingTimeInSeconds"], cost["billableTimeInSeconds"]
            assert cost["spotSavingsPercent"] == pytest.approx((1 - billable / training) * 100)
            assert cost["spotSavingsUsd"] > 0
        markdown = local.read_object(f"{run_prefix}report.md").decode()
        assert "managed spot training:" in markdown and "(1 - billable / training) x 100" in markdown


def test_the_run_data_expiry_covers_the_checkpoints(template: dict[str, Any]) -> None:
    (bucket,) = resources_of_type(template, "AWS::S3::Bucket").values()
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [rule["Prefix"] for rule in rules if rule.get("ExpirationInDays") and rule["Status"] == "Enabled"]
    assert any("runs/run-1/checkpoints/sharded/x.npz".startswith(prefix) for prefix in expiring), rules
