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
from lambdas.preflight.cost_ceiling import price_sheet, project
from lambdas.preflight.quotas import InsufficientQuotaError, check_quotas, needs, sweep_concurrency
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


# --- a sweep: the whole grid is pre-flighted --------------------------------------------------------------------

DEMO_GRID = {"instanceCount": [1, 2, 5], "hyperParameters": {"epochs": ["2", "4"]}}  # needs 10, 10, 4, 4, 2, 2
C5 = "ml.c5.2xlarge for training job usage"
TRANSFORM = "ml.m5.xlarge for transform job usage"


def sweep_event(grid: dict[str, Any] = DEMO_GRID, **overrides: Any) -> QuotaCheckEvent:
    return run_config(sweep=grid, **overrides)


def test_a_sweep_needs_its_largest_point_and_the_transform_quota() -> None:
    assert [(n.quota, n.instances) for n in needs(sweep_event())] == [
        (C5, 10), ("Number of instances across all training jobs", 10), (TRANSFORM, 2)]
    assert "instanceCount 5 (the largest sweep point)" in needs(sweep_event())[0].why
    # the largest point, not the shared shard plan: lcm(2, 3) = 6, but no point trains on more than 3
    event = sweep_event({"instanceCount": [2, 3]})
    assert event.instance_count == 6 and needs(event)[0].instances == 6


@pytest.mark.parametrize(("values", "concurrency", "limited_by"), [
    ({}, 6, None),  # nothing read: nothing limits
    ({C5: 32, TRANSFORM: 12}, 6, None),  # 10 + 10 + 4 + 4 + 2 + 2 = 32 exactly
    ({C5: 31}, 5, C5),
    ({C5: 24}, 3, C5),  # 10 + 10 + 4 fits, + 4 does not
    ({C5: 19}, 1, C5),
    ({C5: 100, "Number of instances across all training jobs": 20}, 2, "Number of instances across all training jobs"),
    ({C5: 100, TRANSFORM: 4}, 2, TRANSFORM),  # 2 points' 2 transform jobs each
    ({C5: 24, TRANSFORM: 4}, 2, TRANSFORM),  # the tighter quota decides
])
def test_sweep_concurrency_is_the_most_points_the_quotas_hold_at_once(
    values: dict[str, float], concurrency: int, limited_by: str | None
) -> None:
    report = sweep_concurrency(sweep_event(), values)
    assert report is not None
    assert (report["points"], report["concurrency"], report["limitedBy"]) == (6, concurrency, limited_by)
    if limited_by:
        value = values[limited_by]
        assert report["note"].startswith(f"runs {concurrency} of 6 points at once: {limited_by} is {value:g}")
    else:
        assert report["note"] == "runs all 6 points at once: every quota read holds them together"


def test_hand_made_grids() -> None:
    one = sweep_event({"hyperParameters": {"epochs": ["2", "4", "8"]}}, instanceCount=3)  # 3 points of 3 instances
    assert sweep_concurrency(one, {C5: 12})["concurrency"] == 2  # type: ignore[index]
    single = sweep_event({"instanceCount": [4]})
    assert sweep_concurrency(single, {C5: 8}) == {"points": 1, "concurrency": 1, "limitedBy": None,
                                                  "note": "runs all 1 points at once: every quota read holds them "
                                                          "together"}
    spot = sweep_event({"instanceCount": [1, 2, 4]}, useSpotInstances=True)
    report = sweep_concurrency(spot, {"ml.c5.2xlarge for spot training job usage": 11})
    assert report == {"points": 3, "concurrency": 1, "limitedBy": "ml.c5.2xlarge for spot training job usage",
                      "note": "runs 1 of 3 points at once: ml.c5.2xlarge for spot training job usage is 11, the 2 "
                              "largest points need 12 at once (8 + 4)"}
    assert sweep_concurrency(run_config(), {C5: 1}) is None


def test_local_quotas_run_the_demo_grid_at_once_and_a_lowered_quota_limits_it(
    local_quotas: tuple[LocalSageMaker, Any]
) -> None:
    plane, client = local_quotas
    demo = sweep_event(trainingInstanceType="ml.m5.large", hostingInstanceType="ml.m4.xlarge")
    report = check_quotas(client, demo)
    assert report["sweep"]["concurrency"] == 6 and report["sweep"]["limitedBy"] is None
    assert {c["quota"]: c["need"] for c in report["checked"]} == {
        "ml.m5.large for training job usage": 10, "Number of instances across all training jobs": 10,
        "ml.m4.xlarge for transform job usage": 2}
    plane.quotas.set("ml.m5.large for training job usage", 10)  # one point of 5 at a time
    report = check_quotas(client, demo)
    assert report["sweep"] == {
        "points": 6, "concurrency": 1, "limitedBy": "ml.m5.large for training job usage",
        "note": "runs 1 of 6 points at once: ml.m5.large for training job usage is 10, the 2 largest points need "
                "20 at once (10 + 10)"}
    plane.quotas.set("ml.m5.large for training job usage", 9)  # not even the largest point
    with pytest.raises(InsufficientQuotaError, match=r"is 9 in us-east-1, but this run needs 10 \(2 training jobs at "
                                                     r"once x instanceCount 5 \(the largest sweep point\)"):
        check_quotas(client, demo)
    assert check_quotas(client, run_config())["sweep"] is None  # no sweep: null


def test_unread_quotas_do_not_limit_a_sweep() -> None:
    client, stub = _stubbed()
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        stub.add_client_error(operation, service_error_code="AccessDeniedException", service_message="no",
                              expected_params={"ServiceCode": "sagemaker", "MaxResults": 100})
    with stub:
        report = check_quotas(client, sweep_event())
    assert report["sweep"]["concurrency"] == 6 and len(report["unchecked"]) == 3


def test_an_assumed_default_limits_a_sweep_like_an_applied_value() -> None:
    client, stub = _stubbed()
    stub.add_response("list_service_quotas", {"Quotas": [_quota(C5, 100), _quota(TRANSFORM, 100)]},
                      expected_params={"ServiceCode": "sagemaker", "MaxResults": 100})
    stub.add_response("list_aws_default_service_quotas",
                      {"Quotas": [_quota("Number of instances across all training jobs", 20)]},
                      expected_params={"ServiceCode": "sagemaker", "MaxResults": 100})
    with stub:
        report = check_quotas(client, sweep_event())
    assert report["sweep"]["concurrency"] == 2
    assert report["sweep"]["limitedBy"] == "Number of instances across all training jobs"


# --- the cost of the whole grid ---------------------------------------------------------------------------------


def _single_transform_run(**overrides: Any) -> dict[str, Any]:
    config = build_config({"scoring": "transform", **overrides}, execution_name="x", bucket="b",
                          resource_prefix="shardlab")
    return project(config, price_sheet(None, REGION, config), scoring_bound_seconds=900)


@pytest.mark.parametrize("spot", [False, True])
def test_the_worst_case_sums_every_point(spot: bool) -> None:
    event = sweep_event(useSpotInstances=spot).as_json()
    projection = project(event, price_sheet(None, REGION, event), scoring_bound_seconds=900)
    singles = [_single_transform_run(instanceCount=n, useSpotInstances=spot) for n in (1, 1, 2, 2, 5, 5)]
    assert [p["point"] for p in projection["points"]] == ["p01", "p02", "p03", "p04", "p05", "p06"]
    assert [p["worstCaseUsd"] for p in projection["points"]] == [s["worstCaseUsd"] for s in singles]
    assert projection["worstCaseUsd"] == pytest.approx(sum(s["worstCaseUsd"] for s in singles), abs=1e-3)
    assert projection["trainingUsd"] == pytest.approx(sum(s["trainingUsd"] for s in singles), abs=1e-3)
    assert projection["scoringUsd"] == pytest.approx(6 * singles[0]["scoringUsd"], abs=1e-3)
    # 6 points x 2 jobs x 16 instances x an hour (two with spot) at $0.408/h
    hours = 2 if spot else 1
    assert projection["trainingUsd"] == pytest.approx(2 * 16 * hours * 0.408, abs=1e-3)
    assert "6 sweep points x 2 jobs x their instanceCount (16 in all: 1 + 1 + 2 + 2 + 5 + 5)" in projection["training"]
    assert projection["scoring"].startswith("6 sweep points x 2 transform jobs x 1 ml.m5.xlarge x timeout 3600 s")
    assert "sweep.instanceCount" in projection["keys"]


def test_the_ceiling_applies_to_the_sum_of_the_grid(local_quotas: tuple[LocalSageMaker, Any]) -> None:
    from lambdas.preflight.checks import preflight
    from lambdas.preflight.cost_ceiling import CostLimitExceededError

    _, quotas = local_quotas
    pricing = boto3.client("pricing", region_name=REGION, endpoint_url=quotas.meta.endpoint_url)
    largest = _single_transform_run(instanceCount=5)["worstCaseUsd"]  # $4.54: every point alone is below $10
    assert largest < 10
    with pytest.raises(CostLimitExceededError) as refused:
        preflight(sweep_event(maxCostUsd=10), quotas=quotas, pricing=pricing)
    message = str(refused.value)
    assert message.startswith("this sweep's worst case (all 6 points) is $15.82, above maxCostUsd $10: training $13.06 "
                              "(6 sweep points x 2 jobs")
    assert "lower maxRuntimeInSeconds or sweep.instanceCount, sweep fewer points, or choose a cheaper" in message
    passed = preflight(sweep_event(maxCostUsd=16), quotas=quotas, pricing=pricing)
    assert passed["costProjection"]["worstCaseUsd"] == 15.816 and len(passed["costProjection"]["points"]) == 6
    assert passed["sweep"]["concurrency"] == 6  # the state output: $.quotaCheck.report.sweep
    assert "points" not in preflight(run_config(), quotas=quotas, pricing=pricing)["costProjection"]
