"""Prices: the Price List API (served by local.pricing on loopback), the bundled table as fallback when the API
is denied or unreachable, unknown instance types named; the table's generator on an offer file; the pre-flight's
worst case and ceiling; the cost formulas (spot savings by AWS's formula, transform jobs)."""

from __future__ import annotations

import datetime
import importlib.util
import json
import socket
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.validate import ParamValidator

from lambdas.compare.cost import endpoint_cost, spot_savings_percent, training_cost, transform_job_cost
from lambdas.compare.training import TrainingFigures
from lambdas.lambda_common.contracts import QuotaCheckEvent
from lambdas.lambda_common.pricing import (
    API_SOURCE,
    HOSTING,
    PRICE_TABLE,
    TABLE_SOURCE,
    TRAINING,
    TRANSFORM,
    Price,
    UnknownInstanceTypeError,
    UnpricedByTableError,
    bundled_table,
    look_up_prices,
)
from lambdas.preflight.checks import preflight
from lambdas.preflight.cost_ceiling import CostLimitExceededError, project, transform_worst_case
from lambdas.workflow_input.config import build_config
from local.hosting import EndpointRegistry
from local.pricing import LocalPriceList
from local.server import LocalSageMakerServer
from stacks.paths import REPO_ROOT

REGION = "us-east-1"
DEFAULT_TYPES = [(TRAINING, "ml.c5.2xlarge"), (HOSTING, "ml.m5.xlarge")]
PRICING_MODEL = botocore.session.get_session().get_service_model("pricing")


class PriceListOnly:
    def __init__(self, price_list: LocalPriceList) -> None:
        self.price_list = price_list

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"no SageMaker call expected, got {operation}")


@pytest.fixture
def price_list(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalPriceList, Any]]:
    """The local Price List on loopback and a real boto3 pricing client whose every request is validated."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    prices = LocalPriceList()
    with LocalSageMakerServer(registry=EndpointRegistry(), control_plane=PriceListOnly(prices)) as server:
        client = boto3.client("pricing", region_name="us-east-1", endpoint_url=server.url)
        problems: list[str] = []

        def check(params: dict[str, Any], model: Any, **_: Any) -> None:
            report = ParamValidator().validate(params, model.input_shape)
            if report.has_errors():
                problems.append(report.generate_report())

        client.meta.events.register("provide-client-params.pricing.*", check)
        yield prices, client
        assert problems == []


def run_config(**overrides: Any) -> dict[str, Any]:
    return build_config(overrides, execution_name="x", bucket="b", resource_prefix="shardlab")


def preflight_event(**overrides: Any) -> dict[str, Any]:
    config = run_config(**overrides)
    keys = ("instanceCount", "trainingInstanceType", "hostingInstanceType", "useSpotInstances",
            "maxRuntimeInSeconds", "maxWaitTimeInSeconds", "maxCostUsd", "scoring", "transformTimeoutSeconds",
            "endpointPollSchedule", "sweep")
    return {**{key: config[key] for key in keys}, "scoringBoundSeconds": 900}


def quota_event(**overrides: Any) -> QuotaCheckEvent:
    """The pre-flight's event, parsed as its handler parses it."""
    return QuotaCheckEvent.parse(preflight_event(**overrides))


# --- the lookup ---------------------------------------------------------------------------------------------


def test_prices_come_from_the_price_list_api(price_list: tuple[LocalPriceList, Any]) -> None:
    served, client = price_list
    sheet = look_up_prices(client, REGION, DEFAULT_TYPES)
    assert sheet.source == API_SOURCE and sheet.fallback_reason is None
    assert sheet.price(TRAINING, "ml.c5.2xlarge").usd_per_hour == 0.408
    assert sheet.price(HOSTING, "ml.m5.xlarge").usd_per_hour == 0.23
    # one request per instance type: SageMaker's service code, the run's region, the type, on-demand terms read
    assert served.requests == [
        {"ServiceCode": "AmazonSageMaker", "FormatVersion": "aws_v1", "MaxResults": 100,
         "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": REGION},
                     {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type}]}
        for instance_type in ("ml.c5.2xlarge", "ml.m5.xlarge")
    ]


def test_the_local_answer_is_one_botocore_accepts_as_get_products_output() -> None:
    answer = LocalPriceList().handle("GetProducts", {"ServiceCode": "AmazonSageMaker", "MaxResults": 2})
    shape = PRICING_MODEL.operation_model("GetProducts").output_shape
    report = ParamValidator().validate(answer, shape)
    assert not report.has_errors(), report.generate_report()
    assert answer["NextToken"] == "2" and len(answer["PriceList"]) == 2
    product = json.loads(answer["PriceList"][0])  # a JSON string on the wire (the jsonvalue trait)
    assert set(product) >= {"product", "serviceCode", "terms", "version", "publicationDate"}
    assert product["product"]["attributes"]["usagetype"].startswith("USE1-")


def test_a_denied_api_falls_back_to_the_bundled_table_and_says_so(price_list: tuple[LocalPriceList, Any]) -> None:
    served, client = price_list
    served.deny = True
    sheet = look_up_prices(client, REGION, DEFAULT_TYPES)
    assert sheet.source == TABLE_SOURCE
    assert sheet.fallback_reason is not None and "AccessDeniedException" in sheet.fallback_reason
    assert sheet.price(TRAINING, "ml.c5.2xlarge").usd_per_hour == 0.408
    table = bundled_table()
    assert table["generatedAt"] in sheet.describe_source() and PRICE_TABLE.name in sheet.describe_source()


def test_an_unreachable_api_falls_back_to_the_bundled_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = boto3.client("pricing", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                          config=Config(retries={"total_max_attempts": 1}, connect_timeout=1))
    sheet = look_up_prices(client, REGION, DEFAULT_TYPES)
    assert sheet.source == TABLE_SOURCE and "EndpointConnectionError" in str(sheet.fallback_reason)


def test_an_instance_type_the_api_does_not_price_is_named(price_list: tuple[LocalPriceList, Any]) -> None:
    _, client = price_list
    with pytest.raises(UnknownInstanceTypeError, match=r"instance type ml\.c5\.3xlarge: the AWS Price List"):
        look_up_prices(client, REGION, [(TRAINING, "ml.c5.3xlarge")])
    with pytest.raises(UnknownInstanceTypeError, match=r"ml\.m5\.xlarge.* in eu-west-1"):
        look_up_prices(client, "eu-west-1", [(HOSTING, "ml.m5.xlarge")])


def test_an_instance_type_the_table_lacks_is_named_with_what_it_covers(
    price_list: tuple[LocalPriceList, Any],
) -> None:
    served, client = price_list
    served.deny = True
    with pytest.raises(UnpricedByTableError, match=r"instance type ml\.p3\.2xlarge: .*covers .*ml\.c5\.2xlarge"):
        look_up_prices(client, REGION, [(TRAINING, "ml.p3.2xlarge")])


# --- the table and its generator ----------------------------------------------------------------------------


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sagemaker_price_table",
                                                  REPO_ROOT / "scripts" / "sagemaker_price_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _product(sku: str, region: str, usagetype: str, instance_type: str) -> dict[str, Any]:
    return {"sku": sku, "productFamily": "ML Instance",
            "attributes": {"regionCode": region, "instanceName": instance_type, "usagetype": usagetype,
                           "servicecode": "AmazonSageMaker"}}


def _term(sku: str, usd: str, unit: str = "Hrs") -> dict[str, Any]:
    return {f"{sku}.JRTCKXETXF": {"offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2025-01-01T00:00:00Z",
                                  "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                      "unit": unit, "pricePerUnit": {"USD": usd}}}}}


def test_the_generator_reads_the_offer_file_format_and_keeps_only_on_demand_instance_hours() -> None:
    offer = {
        "formatVersion": "v1.0", "offerCode": "AmazonSageMaker", "version": "20250101000000",
        "publicationDate": "2025-01-01T00:00:00Z",
        "products": {
            "A": _product("A", "us-east-1", "USE1-Train:ml.c5.2xlarge", "ml.c5.2xlarge"),
            "B": _product("B", "us-east-1", "USE1-Host:ml.c5.2xlarge", "ml.c5.2xlarge"),
            "C": _product("C", "us-east-1", "USE1-Notebk:ml.c5.2xlarge", "ml.c5.2xlarge"),  # not a usage we price
            "D": _product("D", "us-east-1", "USE1-Train:ml.m5.large", "ml.m5.large"),  # not requested
            "E": _product("E", "us-east-1", "USE1-Tsform:ml.c5.2xlarge", "ml.c5.2xlarge"),  # no on-demand term
        },
        "terms": {"OnDemand": {"A": _term("A", "0.4080000000"), "B": _term("B", "0.4080000000"),
                               "C": _term("C", "0.4080000000"), "D": _term("D", "0.1150000000")},
                  "Reserved": {"E": _term("E", "0.1")}},
    }
    generator = _generator()
    table = generator.price_table([("offer.json", offer)], ["ml.c5.2xlarge"], datetime.date(2026, 12, 6))
    assert [(e["usage"], e["sku"], e["usdPerHour"]) for e in table["prices"]] == [
        ("Host", "B", "0.4080000000"), ("Train", "A", "0.4080000000")]
    assert table["generatedAt"] == "2026-12-06" and table["source"]["publicationDate"] == "2025-01-01T00:00:00Z"
    sheet = look_up_prices(None, REGION, [(HOSTING, "ml.c5.2xlarge")], table=table)
    assert sheet.price(HOSTING, "ml.c5.2xlarge").sku == "B"
    with pytest.raises(generator.OfferFileError, match=r"no on-demand price for ml\.p3\.2xlarge"):
        generator.price_table([("offer.json", offer)], ["ml.p3.2xlarge"], datetime.date(2026, 12, 6))
    with pytest.raises(generator.OfferFileError, match="not an AmazonSageMaker offer file"):
        generator.price_table([("ec2.json", {**offer, "offerCode": "AmazonEC2"})], ["ml.c5.2xlarge"],
                              datetime.date(2026, 12, 6))


def test_the_bundled_table_is_what_the_generator_makes_of_its_recorded_source() -> None:
    table = bundled_table()
    source = REPO_ROOT / table["source"]["offerFile"]
    offer = json.loads(source.read_text())
    instance_types = sorted({entry["instanceName"] for entry in table["prices"]})
    remade = _generator().price_table([(table["source"]["offerFile"], offer)], instance_types,
                                      datetime.date.fromisoformat(table["generatedAt"]))
    assert remade == table
    assert {(e["usage"], e["instanceName"]) for e in table["prices"]} >= {
        (TRAINING, "ml.c5.2xlarge"), (HOSTING, "ml.m5.xlarge"), (TRANSFORM, "ml.m5.xlarge")}


# --- cost formulas ------------------------------------------------------------------------------------------


def test_training_cost_and_spot_savings_follow_aws_formulas() -> None:
    price = Price(REGION, TRAINING, "ml.c5.2xlarge", 0.408, "sku")
    figures = TrainingFigures("job", training_seconds=100, billable_seconds=30, instance_count=5,
                              instance_type="ml.c5.2xlarge", distribution_type=None, spot=True, final_metrics={})
    cost = training_cost(figures, price)
    assert cost["usd"] == round(30 * 5 * 0.408 / 3600, 4)
    assert cost["spotSavingsPercent"] == pytest.approx(70.0) == spot_savings_percent(100, 30)
    assert cost["spotSavingsUsd"] == round(70 * 5 * 0.408 / 3600, 4)
    assert cost["onDemandUsd"] == round(100 * 5 * 0.408 / 3600, 4)


def test_endpoint_and_transform_costs_are_instance_seconds_times_price() -> None:
    start = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)
    host = Price(REGION, HOSTING, "ml.m5.xlarge", 0.23, "sku")
    endpoint = endpoint_cost({"EndpointName": "e", "CreationTime": start,
                              "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 1}]},
                             host, start + datetime.timedelta(minutes=10))
    assert endpoint["instanceSeconds"] == 600 and endpoint["usd"] == round(600 * 0.23 / 3600, 4)
    transform = {"TransformJobName": "t", "TransformStartTime": start,
                 "TransformEndTime": start + datetime.timedelta(seconds=300),
                 "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}}
    tsform = Price(REGION, TRANSFORM, "ml.m5.xlarge", 0.23, "sku")
    assert transform_job_cost(transform, tsform)["usd"] == round(600 * 0.23 / 3600, 4)
    with pytest.raises(ValueError, match="batch transform"):
        transform_job_cost(transform, host)


# --- the pre-flight's worst case and ceiling ----------------------------------------------------------------


def test_the_default_worst_case(price_list: tuple[LocalPriceList, Any]) -> None:
    _, client = price_list
    event = preflight_event()
    sheet = look_up_prices(client, REGION, DEFAULT_TYPES)
    projection = project(event, sheet, scoring_bound_seconds=900)
    wait = sum(event["endpointPollSchedule"])
    assert projection["trainingUsd"] == round(2 * 5 * 3600 * 0.408 / 3600, 4) == 4.08
    assert projection["scoringUsd"] == round(2 * (wait + 900) * 0.23 / 3600, 4)
    assert projection["worstCaseUsd"] == round(4.08 + projection["scoringUsd"], 4)
    spot = project(preflight_event(useSpotInstances=True), sheet, scoring_bound_seconds=900)
    assert spot["trainingUsd"] == pytest.approx(2 * 5 * 7200 * 0.408 / 3600)
    assert "maxWaitTimeInSeconds 7200 s" in spot["training"]
    transform = transform_worst_case(sheet.__class__(REGION, {(TRANSFORM, "ml.m5.xlarge"): Price(
        REGION, TRANSFORM, "ml.m5.xlarge", 0.23, "s")}, TABLE_SOURCE, "t"), instance_type="ml.m5.xlarge",
        instance_count=1, max_runtime_seconds=3600)
    assert transform["usd"] == pytest.approx(2 * 0.23)


def test_the_ceiling_refuses_naming_the_projection_its_parts_and_the_key(
    price_list: tuple[LocalPriceList, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pricing = price_list
    from lambdas.preflight import checks

    monkeypatch.setattr(checks, "check_quotas", lambda client, config: {"region": REGION, "checked": [],
                                                                        "unchecked": []})
    quotas = type("Quotas", (), {"meta": type("Meta", (), {"region_name": REGION})()})()
    with pytest.raises(CostLimitExceededError) as refused:
        preflight(quota_event(maxCostUsd=1.5, instanceCount=2), quotas=quotas, pricing=pricing)
    message = str(refused.value)
    assert message.startswith("this run's worst case is $")
    assert "above maxCostUsd $1.5: training $1.64 (2 jobs x instanceCount 2 x maxRuntimeInSeconds 3600 s" in message
    assert "+ scoring $" in message and "2 endpoints x 1 ml.m5.xlarge x (longest wait" in message
    assert "AWS Price List API" in message
    assert "Raise maxCostUsd, lower instanceCount or maxRuntimeInSeconds, or choose a cheaper" in message
    passed = preflight(quota_event(maxCostUsd=10), quotas=quotas, pricing=pricing)
    assert passed["costProjection"]["worstCaseUsd"] < 10 and passed["costProjection"]["maxCostUsd"] == 10


def test_the_picture_carries_the_cost_line() -> None:
    from lambdas.compare import chart
    from lambdas.compare.cost import cost_chart_lines

    cost = {"prices": {"source": API_SOURCE}, "totalUsd": 0.1234, "branches": {
        "replicated": {"training": {"usd": 0.0618}, "endpoint": {"usd": 0.0123}},
        "sharded": {"training": {"usd": 0.0370}, "endpoint": None}}}
    (line,) = cost_chart_lines(cost)
    assert line == ("Cost (AWS Price List API): FullyReplicated training USD 0.0618 + endpoint USD 0.0123; "
                    "ShardedByS3Key training USD 0.0370; run total USD 0.1234")
    assert all(character in chart._GLYPHS for character in line)  # every character has a glyph ('$' has none)
    data = chart.ChartData(run_id="r", verdict="v", training_seconds={"replicated": 2, "sharded": 1},
                           billable_instance_seconds={"replicated": 2, "sharded": 1}, instances={}, points={},
                           sorted_absolute_errors={"replicated": [0.5], "sharded": [0.5]}, test_rows=1)
    plain = chart.render(data)
    priced = chart.render(chart.ChartData(**{**data.__dict__, "cost_lines": (line,)}))
    band = slice(110 * chart.WIDTH * 3, 119 * chart.WIDTH * 3)  # the rows under the legend
    assert set(plain.pixels[band]) == {255}  # blank without a cost line
    assert sum(a != b for a, b in zip(plain.pixels[band], priced.pixels[band], strict=True)) > 300


def test_a_type_only_the_table_lacks_stops_the_run_only_with_a_ceiling(
    price_list: tuple[LocalPriceList, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, pricing = price_list
    served.deny = True  # the API is unavailable; the table has no ml.p3.2xlarge
    from lambdas.preflight import checks

    monkeypatch.setattr(checks, "check_quotas", lambda client, config: {"region": REGION, "checked": [],
                                                                        "unchecked": []})
    quotas = type("Quotas", (), {"meta": type("Meta", (), {"region_name": REGION})()})()
    passed = preflight(quota_event(trainingInstanceType="ml.p3.2xlarge"), quotas=quotas, pricing=pricing)
    assert "ml.p3.2xlarge" in passed["costProjection"]["unpriced"]
    with pytest.raises(UnpricedByTableError, match=r"instance type ml\.p3\.2xlarge"):
        preflight(quota_event(trainingInstanceType="ml.p3.2xlarge", maxCostUsd=5), quotas=quotas,
                  pricing=pricing)
    served.deny = False  # a type the API itself does not price fails the run even without a ceiling
    with pytest.raises(UnknownInstanceTypeError, match=r"instance type ml\.p3\.2xlarge: the AWS Price List"):
        preflight(quota_event(trainingInstanceType="ml.p3.2xlarge"), quotas=quotas, pricing=pricing)
