"""`cdk destroy` in local mode: the clean-up guard's Delete handlers (``lambdas.cleanup.handler.on_event`` /
``is_complete``, with the environment the stack gives them) against endpoints kept by an earlier run, a run
whose training jobs are in progress, and a neighbour stack whose names share the prefix."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
import pytest
from faults_helpers import SMALL_INPUT, job_status, leaked, run_config, run_names, sagemaker_logs_of, wait_until

from lambdas.cleanup import handler as cleanup_handler
from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan

pytestmark = pytest.mark.slow

NEIGHBOUR = "shardlab-dev"  # another stack's prefix; its names also start with "shardlab-"


def _delete_event(prefix: str, state_machine_arn: str) -> dict[str, Any]:
    return {
        "RequestType": "Delete",
        "PhysicalResourceId": f"{prefix}-cleanup-guard",
        "ResourceType": "Custom::ShardlabCleanupGuard",
        "ResourceProperties": {"ResourcePrefix": prefix, "StateMachineArn": state_machine_arn},
    }


def _destroy(event: dict[str, Any]) -> int:
    """What the Provider framework does: onEvent once, then isComplete until it says complete."""
    assert cleanup_handler.on_event(event, None) == {"PhysicalResourceId": event["PhysicalResourceId"]}
    for attempt in range(1, 200):
        if cleanup_handler.is_complete(event, None)["IsComplete"]:
            return attempt
        time.sleep(0.05)
    raise AssertionError("the clean-up guard never completed")


def _neighbour(sagemaker: Any, like_job: dict[str, Any]) -> dict[str, str]:
    """A neighbour stack's job (in progress), model, endpoint config and endpoint, tagged with its own prefix."""
    name = f"{NEIGHBOUR}-run-1-replicated"
    tags = [{"Key": "shardlab:stack", "Value": NEIGHBOUR}]
    request = {key: like_job[key] for key in ("AlgorithmSpecification", "RoleArn", "InputDataConfig",
                                              "OutputDataConfig", "ResourceConfig", "StoppingCondition",
                                              "HyperParameters")}
    request["AlgorithmSpecification"] = {k: v for k, v in request["AlgorithmSpecification"].items()
                                         if k in ("TrainingImage", "TrainingInputMode")}
    sagemaker.create_training_job(TrainingJobName=name, Tags=tags, **request)
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=like_job["RoleArn"], Tags=tags, PrimaryContainer={
        "Image": like_job["AlgorithmSpecification"]["TrainingImage"],
        "ModelDataUrl": like_job["ModelArtifacts"]["S3ModelArtifacts"]})
    sagemaker.create_endpoint_config(EndpointConfigName=name, Tags=tags, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)
    return {"job": name, "endpoint": name}


def test_destroy_leaves_nothing_of_the_stack_and_spares_the_neighbour(template: dict[str, Any]) -> None:
    faults = FaultPlan(slow_training={"shardlab-running-*": 120.0, f"{NEIGHBOUR}-*": 120.0})
    with LocalShardlab(template, control_plane_options={"faults": faults}) as local:
        prefix = os.environ["SHARDLAB_PREFIX"]
        sagemaker = boto3.client("sagemaker")
        kept = local.run({**SMALL_INPUT, "keepEndpoints": True}, name="kept")
        assert kept["status"] == "SUCCEEDED", kept
        kept_config = run_config(kept["executionArn"])
        assert len(sagemaker.list_endpoints(NameContains=prefix)["Endpoints"]) == 2
        # Endpoints kept on purpose keep their logs (and so do their finished jobs) until they are deleted.
        kept_logs = sagemaker_logs_of(run_names(kept_config))
        assert sorted(g for g in kept_logs if g.startswith("log-group/")) == [
            f"log-group//aws/sagemaker/Endpoints/{name}" for name in run_names(kept_config)]
        assert sum(item.startswith("log-stream/") for item in kept_logs) == (
            SMALL_INPUT["instanceCount"] * 2), kept_logs

        running = local.start(SMALL_INPUT, name="running")
        wait_until(lambda: len(sagemaker.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]) == 2,
                   timeout=60, what="the running execution's jobs in progress")
        running_config = run_config(running)
        like = sagemaker.describe_training_job(TrainingJobName=kept_config["names"]["replicated"])
        neighbour = _neighbour(sagemaker, like)
        wait_until(lambda: sagemaker.describe_endpoint(EndpointName=neighbour["endpoint"])["EndpointStatus"]
                   == "InService", what="the neighbour's endpoint")
        boto3.client("logs").create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs",
                                               logStreamName=f"{neighbour['job']}/algo-1-1767225600")
        neighbour_logs = sagemaker_logs_of([neighbour["job"]])
        assert len(neighbour_logs) == 2, neighbour_logs

        # Some of the stack's resources are already gone (deleted by hand, or by an earlier, failed destroy).
        sagemaker.delete_model(ModelName=kept_config["names"]["sharded"])
        sagemaker.delete_endpoint_config(EndpointConfigName=kept_config["names"]["replicated"])

        event = _delete_event(prefix, local.state_machine_arn)
        os.environ["SHARDLAB_STATE_MACHINE_ARN"] = local.state_machine_arn  # as the stack sets it
        try:
            _destroy(event)
            assert local.wait(running)["status"] == "ABORTED"
            names = run_names(kept_config) + run_names(running_config)
            assert leaked(names) == []
            assert {job_status(name) for name in run_names(running_config)} == {"Stopped"}
            # Nothing tagged with this stack remains, whatever its name.
            for listing, key, arn_key in (("list_endpoints", "Endpoints", "EndpointArn"),
                                          ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigArn"),
                                          ("list_models", "Models", "ModelArn")):
                for item in getattr(sagemaker, listing)()[key]:
                    tags = sagemaker.list_tags(ResourceArn=item[arn_key])["Tags"]
                    assert {"Key": "shardlab:stack", "Value": prefix} not in tags, item
            # The neighbour is untouched.
            assert job_status(neighbour["job"]) == "InProgress"
            assert sagemaker.describe_endpoint(EndpointName=neighbour["endpoint"])["EndpointStatus"] == "InService"
            assert sagemaker.describe_endpoint_config(EndpointConfigName=neighbour["endpoint"])
            assert sagemaker.describe_model(ModelName=neighbour["endpoint"])
            assert sagemaker_logs_of([neighbour["job"]]) == neighbour_logs
            # A second Delete (CloudFormation retries a failed one) finds nothing to do and completes.
            assert _destroy(event) == 1
        finally:
            del os.environ["SHARDLAB_STATE_MACHINE_ARN"]
