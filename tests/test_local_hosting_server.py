"""local.server: boto3 talks to the local HTTP server exactly as to SageMaker (runtime and control plane)."""

from __future__ import annotations

import datetime
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.errors import SageMakerApiError
from local.fake_aws import REGION
from local.hosting import EndpointRegistry
from local.linear_model import LinearModel
from local.server import MAX_INVOCATION_BYTES, LocalSageMakerServer

MODEL = LinearModel(weights=np.array([1.0, 2.0, -0.5]), bias=0.25)


class FakeControlPlane:
    """Records operations; answers DescribeEndpoint with a datetime, fails everything else as AWS would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, params))
        if operation == "DescribeEndpoint" and params["EndpointName"] == "known":
            return {
                "EndpointName": "known",
                "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/known",
                "EndpointConfigName": "known",
                "EndpointStatus": "InService",
                "CreationTime": datetime.datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=datetime.UTC),
                "LastModifiedTime": datetime.datetime(2026, 1, 2, 3, 4, 6),
            }
        if operation == "DescribeEndpoint":
            raise SageMakerApiError("ValidationException", f'Could not find endpoint "{params["EndpointName"]}".')
        raise SageMakerApiError("ThrottlingException", "Rate exceeded", 400)


@pytest.fixture
def server() -> Iterator[LocalSageMakerServer]:
    registry = EndpointRegistry()
    registry.register("linear", MODEL)
    with LocalSageMakerServer(registry=registry, control_plane=FakeControlPlane()) as running:
        yield running


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def runtime_client(url: str) -> Any:
    return boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=url)


def test_url_is_loopback_with_a_picked_port(server: LocalSageMakerServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert int(server.url.rsplit(":", 1)[1]) > 0
    with urllib.request.urlopen(server.url + "/ping") as response:
        assert response.status == 200


def test_invoke_through_environment_setting_while_moto_is_active(
    server: LocalSageMakerServer, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    with mock_aws():
        runtime = boto3.client("sagemaker-runtime", region_name=REGION)
        response = runtime.invoke_endpoint(EndpointName="linear", ContentType="text/csv", Body=b"1,2,3\n0,0,2")
        assert response["ContentType"] == "application/json"
        assert response["InvokedProductionVariant"] == "AllTraffic"
        assert json.loads(response["Body"].read()) == {"predictions": [{"score": 3.75}, {"score": -0.75}]}


def test_unknown_endpoint_is_the_runtime_validation_error(server: LocalSageMakerServer, aws_env: None) -> None:
    with pytest.raises(ClientError) as raised:
        runtime_client(server.url).invoke_endpoint(EndpointName="missing", ContentType="text/csv", Body=b"1,2,3")
    error = raised.value.response
    assert error["Error"] == {
        "Code": "ValidationError",
        "Message": "Endpoint missing of account 123456789012 not found.",
    }
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_bad_payload_is_a_model_error_with_the_container_answer(server: LocalSageMakerServer, aws_env: None) -> None:
    runtime = runtime_client(server.url)
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName="linear", ContentType="text/csv", Body=b"1,2")
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert "feature size 2" in response["OriginalMessage"]
    assert response["Error"]["Message"].startswith('Received client error (400) from primary with message "Unable')
    assert "/aws/sagemaker/Endpoints/linear in account 123456789012" in response["Error"]["Message"]
    assert response["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/linear")


def test_body_over_the_api_limit_is_rejected(server: LocalSageMakerServer, aws_env: None) -> None:
    body = b"1,2,3\n" * (MAX_INVOCATION_BYTES // 6 + 1)
    with pytest.raises(ClientError) as raised:
        runtime_client(server.url).invoke_endpoint(EndpointName="linear", ContentType="text/csv", Body=body)
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert str(MAX_INVOCATION_BYTES) in raised.value.response["Error"]["Message"]


def test_concurrent_invocations(server: LocalSageMakerServer, aws_env: None) -> None:
    runtime = runtime_client(server.url)

    def score(row: int) -> float:
        body = f"{row},0,0".encode()
        answer = runtime.invoke_endpoint(EndpointName="linear", ContentType="text/csv", Body=body)
        return float(json.loads(answer["Body"].read())["predictions"][0]["score"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(score, range(40))) == [row + 0.25 for row in range(40)]


def test_control_plane_routing_and_epoch_datetimes(
    server: LocalSageMakerServer, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        described = sagemaker.describe_endpoint(EndpointName="known")
    assert described["EndpointStatus"] == "InService"
    assert described["CreationTime"] == datetime.datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=datetime.UTC)
    # naive datetimes are UTC
    assert (
        described["LastModifiedTime"].timestamp()
        == datetime.datetime(2026, 1, 2, 3, 4, 6, tzinfo=datetime.UTC).timestamp()
    )
    assert server.control_plane is not None
    assert server.control_plane.calls == [("DescribeEndpoint", {"EndpointName": "known"})]  # type: ignore[attr-defined]


def test_control_plane_errors_are_client_errors(server: LocalSageMakerServer, aws_env: None) -> None:
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=server.url, config=_no_retries())
    with pytest.raises(ClientError) as raised:
        sagemaker.describe_endpoint(EndpointName="other")
    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": 'Could not find endpoint "other".',
    }
    with pytest.raises(ClientError) as throttled:
        sagemaker.list_endpoints()
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"


def test_without_control_plane_operations_are_unknown(aws_env: None) -> None:
    with LocalSageMakerServer(registry=EndpointRegistry()) as bare:
        sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=bare.url)
        with pytest.raises(ClientError) as raised:
            sagemaker.list_endpoints()
    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"


def test_unknown_path_is_404(server: LocalSageMakerServer) -> None:
    request = urllib.request.Request(server.url + "/nothing", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 404


def test_stop_frees_the_server() -> None:
    running = LocalSageMakerServer(registry=EndpointRegistry())
    running.start()
    url = running.url
    running.stop()
    with pytest.raises(RuntimeError):
        _ = running.url
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/ping", timeout=2)


def _no_retries() -> Any:
    from botocore.config import Config

    return Config(retries={"total_max_attempts": 1})
