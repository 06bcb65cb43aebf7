"""The Service Quotas pre-flight (lambdas/preflight): reads the quotas a run needs by name, fails with a message
that names the quota, the need, the value and how to ask for more; never fails a run because a quota could not
be read. Requests go through boto3 to local mode's Service Quotas (or botocore's Stubber, which validates every
request against the service model)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.lambda_common.contracts import QuotaCheckEvent
from lambdas.preflight.quotas import InsufficientQuotaError, check_quotas, needs
from lambdas.workflow_input.config import build_config
from local.hosting import EndpointRegistry
from local.sagemaker.control_plane import LocalSageMaker
from local.server import LocalSageMakerServer
from local.service_quotas import quota_code

REGION = "us-east-1"


def run_config(**overrides: Any) -> QuotaCheckEvent:
    """The pre-flight's event for a run config with these overrides, as the state machine builds it."""
    return QuotaCheckEvent.for_run(build_config(overrides, execution_name="x", bucket="b",
                                                resource_prefix="shardlab"), scoring_bound_seconds=900)


@pytest.fixture
def local_quotas(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalSageMaker, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    plane = LocalSageMaker()
    server = LocalSageMakerServer(registry=EndpointRegistry(), control_plane=plane)
    server.start()
    try:
        yield plane, boto3.client("service-quotas", endpoint_url=server.url, region_name=REGION)
    finally:
        server.stop()
        plane.shutdown()


def test_the_defaults_need_ten_training_and_two_endpoint_instances() -> None:
    assert [(n.quota, n.instances) for n in needs(run_config())] == [
        ("ml.c5.2xlarge for training job usage", 10),
        ("Number of instances across all training jobs", 10),
        ("ml.m5.xlarge for endpoint usage", 2),
        ("Number of instances across active endpoints", 2),
    ]
    spot = needs(run_config(useSpotInstances=True, instanceCount=3))
    assert (spot[0].quota, spot[0].instances) == ("ml.c5.2xlarge for spot training job usage", 6)
    assert spot[1].quota == "Number of instances across all spot training jobs"


def test_enough_quota_passes_and_reports_what_it_checked(local_quotas: tuple[LocalSageMaker, Any]) -> None:
    _, client = local_quotas
    report = check_quotas(client, run_config())
    assert report["unchecked"] == [] and report["assumedDefault"] == [] and len(report["checked"]) == 4
    assert {c["source"] for c in report["checked"]} == {"applied"}
    assert all(c["value"] >= c["need"] for c in report["checked"])


def test_a_low_training_quota_fails_with_the_quota_the_need_the_value_and_how_to_raise_it(
    local_quotas: tuple[LocalSageMaker, Any]
) -> None:
    plane, client = local_quotas
    name = "ml.c5.2xlarge for training job usage"
    plane.quotas.set(name, 4)
    with pytest.raises(InsufficientQuotaError) as refused:
        check_quotas(client, run_config())
    message = str(refused.value)
    assert f"SageMaker quota '{name}' ({quota_code(name)}) is 4 in us-east-1, but this run needs 10" in message
    assert "2 training jobs at once x instanceCount 5 ml.c5.2xlarge instances" in message
    assert "Service Quotas console (AWS services > Amazon SageMaker >" in message
    assert (f"aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code "
            f"{quota_code(name)} --desired-value 10 --region us-east-1") in message
    assert "Number of instances" not in message  # only the quota that is short


def test_a_zero_endpoint_quota_fails_too(local_quotas: tuple[LocalSageMaker, Any]) -> None:
    plane, client = local_quotas
    plane.quotas.set("ml.m5.xlarge for endpoint usage", 0)
    with pytest.raises(InsufficientQuotaError, match=r"'ml.m5.xlarge for endpoint usage' .* is 0 in us-east-1, "
                                                     r"but this run needs 2 \(2 endpoints x 1 ml.m5.xlarge"):
        check_quotas(client, run_config())


def test_scoring_by_transform_checks_the_transform_quota_not_the_endpoints(
    local_quotas: tuple[LocalSageMaker, Any]
) -> None:
    plane, client = local_quotas
    plane.quotas.set("ml.m5.xlarge for endpoint usage", 0)  # not needed: no endpoint is created
    report = check_quotas(client, run_config(scoring="transform"))
    quotas = [entry["quota"] for entry in report["checked"] + report["assumedDefault"] + report["unchecked"]]
    assert "ml.m5.xlarge for transform job usage" in quotas
    assert not any("endpoint" in quota for quota in quotas)
    plane.quotas.set("ml.m5.xlarge for transform job usage", 1)
    with pytest.raises(InsufficientQuotaError, match=r"'ml.m5.xlarge for transform job usage' .* is 1 in us-east-1, "
                                                     r"but this run needs 2 \(2 transform jobs x 1 ml.m5.xlarge"):
        check_quotas(client, run_config(scoring="transform"))


def test_a_quota_service_quotas_does_not_list_is_reported_unchecked_not_failed(
    local_quotas: tuple[LocalSageMaker, Any]
) -> None:
    _, client = local_quotas
    report = check_quotas(client, run_config(trainingInstanceType="ml.zz9.huge"))
    assert [u["quota"] for u in report["unchecked"]] == ["ml.zz9.huge for training job usage"]
    assert "lists no quota of this name" in report["unchecked"][0]["reason"]


def _stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("service-quotas", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_denied_or_throttled_service_quotas_never_fail_the_run() -> None:
    client, stub = _stubbed()
    for operation, code in (("list_service_quotas", "AccessDeniedException"),
                            ("list_aws_default_service_quotas", "TooManyRequestsException")):
        stub.add_client_error(operation, service_error_code=code, service_message="no",
                              expected_params={"ServiceCode": "sagemaker", "MaxResults": 100})
    with stub:
        report = check_quotas(client, run_config())
    stub.assert_no_pending_responses()
    assert report["checked"] == [] and len(report["unchecked"]) == 4
    reason = report["unchecked"][0]["reason"]
    assert "AccessDeniedException" in reason and "TooManyRequestsException" in reason


def _quota(name: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": "sagemaker", "QuotaCode": "L-1", "QuotaName": name, "Value": value}


APPLIED = [_quota("ml.c5.2xlarge for training job usage", 20),
           _quota("Number of instances across all training jobs", 20),
           _quota("Number of instances across active endpoints", 20)]


def _endpoint_quota_only_by_default(value: float) -> tuple[Any, Stubber]:
    """Every default-run quota applied but the endpoint type's, which only AWS's default lists (at ``value``)."""
    client, stub = _stubbed()
    stub.add_response("list_service_quotas", {"Quotas": APPLIED},
                      expected_params={"ServiceCode": "sagemaker", "MaxResults": 100})
    stub.add_response("list_aws_default_service_quotas",
                      {"Quotas": [_quota("ml.m5.xlarge for endpoint usage", value)]},
                      expected_params={"ServiceCode": "sagemaker", "MaxResults": 100})
    return client, stub


def test_a_quota_without_an_applied_value_is_read_from_the_aws_default() -> None:
    client, stub = _endpoint_quota_only_by_default(0)
    with stub, pytest.raises(InsufficientQuotaError, match=r"'ml.m5.xlarge for endpoint usage' .* is 0"):
        check_quotas(client, run_config())


def test_an_aws_default_that_suffices_is_reported_as_assumed_not_checked() -> None:
    """A new account's quota can be below AWS's published default (amazon-sagemaker-examples#593): a value read
    from ListAWSDefaultServiceQuotas is an assumption, and the report says so."""
    client, stub = _endpoint_quota_only_by_default(4)
    with stub:
        report = check_quotas(client, run_config())
    assert [c["quota"] for c in report["checked"]] == [q["QuotaName"] for q in APPLIED]
    (assumed,) = report["assumedDefault"]
    assert assumed["quota"] == "ml.m5.xlarge for endpoint usage" and assumed["source"] == "assumed default"
    assert assumed["value"] == 4 and assumed["need"] == 2 and "can be lower" in assumed["note"]
    assert report["unchecked"] == []
