"""Clients nobody here wrote, unchanged, against a served local run (``python -m local run --keep-endpoints``).

One run is served for the module (moto's S3/CloudWatch/Logs/STS and the local SageMaker on 127.0.0.1, endpoints
kept). The clients run in child processes that get only the run's exported environment
(``LocalShardlab.client_environment``), as a user's shell or notebook kernel would. Every SageMaker and
Service Quotas answer the run served, and what the ``.sync`` task handed the state machine, is judged by
botocore's models with STRICT rules (``local.aws_models``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from faults_helpers import events

from local.aws_models import strict_errors
from local.runner import LocalShardlab
from local.sagemaker.control_plane import SUPPORTED_OPERATIONS

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


@dataclass
class ServedRun:
    local: LocalShardlab
    environment: dict[str, str]
    job: str
    endpoint: str
    feature_dim: int
    role: str
    answers: list[tuple[str, str, Any]] = field(default_factory=list)  # (service, operation, answer)
    sync_outputs: list[dict[str, Any]] = field(default_factory=list)


def _recording(service: str, handle: Any, answers: list[tuple[str, str, Any]]) -> Any:
    def recorded(operation: str, params: Any) -> Any:
        answer = handle(operation, params)
        answers.append((service, operation, answer))
        return answer

    return recorded


def read_every_resource(sagemaker: Any) -> None:
    """Every read operation of the local SageMaker, so that each kind of answer is judged."""
    for endpoint in sagemaker.list_endpoints()["Endpoints"]:
        sagemaker.describe_endpoint(EndpointName=endpoint["EndpointName"])
        sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])
    for config in sagemaker.list_endpoint_configs()["EndpointConfigs"]:
        sagemaker.describe_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
    for model in sagemaker.list_models()["Models"]:
        sagemaker.describe_model(ModelName=model["ModelName"])


@pytest.fixture(scope="module")
def served(template: dict[str, Any]) -> Iterator[ServedRun]:
    answers: list[tuple[str, str, Any]] = []
    with LocalShardlab(template, serve_aws=True) as local:
        local.sagemaker.handle = _recording("sagemaker", local.sagemaker.handle, answers)  # type: ignore[method-assign]
        local.sagemaker.quotas.handle = _recording(  # type: ignore[method-assign]
            "service-quotas", local.sagemaker.quotas.handle, answers
        )
        description = local.run({"keepEndpoints": True}, name="clients", timeout_seconds=600)
        assert description["status"] == "SUCCEEDED", description.get("cause")
        sagemaker = boto3.client("sagemaker")
        job = next(j["TrainingJobName"] for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]
                   if j["TrainingJobName"].endswith("sharded"))
        described = sagemaker.describe_training_job(TrainingJobName=job)
        read_every_resource(sagemaker)
        sync_outputs = [
            json.loads(e["taskSucceededEventDetails"]["output"])
            for e in events(description["executionArn"])
            if e.get("taskSucceededEventDetails", {}).get("resource") == "createTrainingJob.sync"
        ]
        yield ServedRun(
            local=local,
            environment={**local.client_environment(), "PATH": "/usr/bin:/bin", "HOME": "/tmp",
                         "SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
            job=job,
            endpoint=next(name for name in local.registry.names() if "sharded" in name),
            feature_dim=int(described["HyperParameters"]["feature_dim"]),
            role=described["RoleArn"],
            answers=answers,
            sync_outputs=sync_outputs,
        )


def child(served: ServedRun, *command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, env=served.environment, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def sdk_v2(served: ServedRun) -> dict[str, Any]:
    arguments = {"job": served.job, "endpoint": served.endpoint, "feature_dim": served.feature_dim,
                 "role": served.role}
    ran = child(served, sys.executable, str(HERE / "client_checks_sdk_v2.py"), json.dumps(arguments), timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return dict(json.loads(ran.stdout.strip().splitlines()[-1]))


def value(results: dict[str, Any], check: str) -> Any:
    assert results[check]["ok"], results[check]["error"]
    return results[check]["value"]


# ---------------------------------------------------------------------------------------- item 4: AWS's models


def test_every_sagemaker_and_quotas_answer_the_run_served_is_strictly_valid(served: ServedRun) -> None:
    operations = {(service, operation) for service, operation, _ in served.answers}
    not_called = {"StopTrainingJob", "AddTags", "DeleteTags"}  # a run that succeeds and keeps its endpoints
    # scoring by endpoint: the transform operations' answers are judged in tests/test_local_transform.py
    not_called |= {"CreateTransformJob", "DescribeTransformJob", "StopTransformJob", "ListTransformJobs"}
    assert {("sagemaker", operation) for operation in SUPPORTED_OPERATIONS if operation not in not_called} - {
        ("sagemaker", o) for o in ("DeleteModel", "DeleteEndpointConfig", "DeleteEndpoint")
    } <= operations
    assert ("service-quotas", "ListServiceQuotas") in operations
    for service, operation, answer in served.answers:
        assert strict_errors(service, operation, answer) == [], (service, operation)


def test_what_the_sync_task_hands_the_state_machine_is_a_strictly_valid_description(served: ServedRun) -> None:
    assert len(served.sync_outputs) == 2  # replicated and sharded
    for output in served.sync_outputs:
        assert strict_errors("sagemaker", "DescribeTrainingJob", output) == []
        assert output["TrainingJobStatus"] == "Completed"
        assert isinstance(output["CreationTime"], int)  # Step Functions hands timestamps as epoch milliseconds
        # members AWS returns for a completed built-in algorithm job (DescribeTrainingJob API reference)
        assert output["OutputDataConfig"]["KmsKeyId"] == "" and output["ProfilingStatus"] == "Disabled"
        assert output["AlgorithmSpecification"]["MetricDefinitions"] and output["FinalMetricDataList"]


def test_runtime_answers_are_strictly_valid(served: ServedRun) -> None:
    runtime = boto3.client("sagemaker-runtime")
    row = ",".join(["0.5"] * served.feature_dim)
    for accept in ("application/json", "application/jsonlines", "application/x-recordio-protobuf"):
        answer = runtime.invoke_endpoint(EndpointName=served.endpoint, ContentType="text/csv", Accept=accept,
                                         Body=row)
        assert answer["ContentType"] == accept
        answer["Body"] = answer["Body"].read()
        assert strict_errors("sagemaker-runtime", "InvokeEndpoint", answer) == []


# ---------------------------------------------------------------------------------------- item 5: SDK v2


def test_estimator_and_linear_learner_attach(served: ServedRun, sdk_v2: dict[str, Any]) -> None:
    attached = value(sdk_v2, "attach")
    assert attached["model_data"].endswith(f"/{served.job}/output/model.tar.gz")
    learner = value(sdk_v2, "attach_linear_learner")
    assert learner == {"predictor_type": "regressor", "model_data": attached["model_data"]}


def test_training_job_analytics_reads_the_jobs_metrics(sdk_v2: dict[str, Any]) -> None:
    names = value(sdk_v2, "analytics")
    assert {"train:objective_loss", "validation:mse", "validation:objective_loss"} <= set(names)


def test_linear_learner_predictor_gets_recordio_protobuf_scores(sdk_v2: dict[str, Any]) -> None:
    scores = value(sdk_v2, "linear_learner_predictor")
    assert scores == pytest.approx(value(sdk_v2, "predictor_csv"), rel=1e-6)


def test_predictor_with_csv_dense_json_and_sparse_json(sdk_v2: dict[str, Any]) -> None:
    csv_scores = value(sdk_v2, "predictor_csv")
    assert len(csv_scores) == 2
    answered = value(sdk_v2, "predictor_json")
    assert answered["dense"] == pytest.approx(csv_scores) and answered["sparse"] == pytest.approx(csv_scores)


def test_an_answer_linear_learner_does_not_offer_keeps_its_refusal(sdk_v2: dict[str, Any]) -> None:
    assert not sdk_v2["csv_answer_refused"]["ok"]
    error = sdk_v2["csv_answer_refused"]["error"]
    assert "ModelError" in error and "(406)" in error and "Accept 'text/csv' is not supported" in error


def test_session_default_bucket(sdk_v2: dict[str, Any]) -> None:
    assert value(sdk_v2, "default_bucket") == "sagemaker-us-east-1-123456789012"


def test_logs_for_job_prints_the_algorithms_lines(sdk_v2: dict[str, Any]) -> None:
    lines = value(sdk_v2, "logs_for_job")
    assert any("#quality_metric: host=algo-1, validation mse <loss>=" in line for line in lines)


def test_linear_learner_fit_on_a_record_set_trains_from_its_manifest(sdk_v2: dict[str, Any]) -> None:
    fitted = value(sdk_v2, "fit_record_set")
    assert fitted["status"] == "Completed", fitted["failure"]
    assert fitted["channels"] == ["ManifestFile"]


# ---------------------------------------------------------------------------------------- item 5: AWS CLI


def aws_cli(served: ServedRun, *arguments: str) -> subprocess.CompletedProcess[str]:
    return child(served, sys.executable, "-m", "awscli", *arguments, timeout=120)


def test_aws_cli_waiters_return_at_once_on_a_finished_job_and_a_serving_endpoint(served: ServedRun) -> None:
    waited = aws_cli(served, "sagemaker", "wait", "training-job-completed-or-stopped",
                     "--training-job-name", served.job)
    assert waited.returncode == 0, waited.stderr
    waited = aws_cli(served, "sagemaker", "wait", "endpoint-in-service", "--endpoint-name", served.endpoint)
    assert waited.returncode == 0, waited.stderr
    missing = aws_cli(served, "sagemaker", "wait", "endpoint-in-service", "--endpoint-name", "no-such-endpoint")
    assert missing.returncode == 255 and "Waiter EndpointInService failed" in missing.stderr


def test_aws_cli_reads_the_training_jobs_log_lines(served: ServedRun) -> None:
    # `aws logs tail` is an AWS CLI v2 command, and v2 is not on PyPI; v1's filter-log-events reads the same.
    read = aws_cli(served, "logs", "filter-log-events", "--log-group-name", "/aws/sagemaker/TrainingJobs",
                   "--log-stream-name-prefix", f"{served.job}/algo-1-", "--query", "events[].message",
                   "--output", "text")
    assert read.returncode == 0, read.stderr
    assert "#quality_metric: host=algo-1, validation mse <loss>=" in read.stdout

# ---------------------------------------------------------------------------------------- item 5: SDK v3


def test_sagemaker_core_training_job_get_and_endpoint_invoke(served: ServedRun) -> None:
    script = (
        "import json, sys\n"
        "from sagemaker_core.resources import Endpoint, TrainingJob\n"
        "job = TrainingJob.get(training_job_name=sys.argv[1])\n"
        "answer = Endpoint.get(endpoint_name=sys.argv[2]).invoke(body=sys.argv[3], content_type='text/csv',"
        " accept='application/json')\n"
        "print(json.dumps({'status': job.training_job_status, 'kms': job.output_data_config.kms_key_id,"
        " 'metrics': len(job.algorithm_specification.metric_definitions),"
        " 'answer': json.loads(answer.body.read())}))\n"
    )
    row = ",".join(["0.5"] * served.feature_dim)
    ran = child(served, sys.executable, "-c", script, served.job, served.endpoint, row)
    assert ran.returncode == 0, ran.stderr[-3000:]
    got = json.loads(ran.stdout.strip().splitlines()[-1])
    assert got["status"] == "Completed" and got["kms"] == "" and got["metrics"] > 0
    assert len(got["answer"]["predictions"]) == 1
