"""SageMaker on-demand prices: the AWS Price List API at run time, a bundled dated table when it cannot answer.

One lookup per instance type: ``pricing:GetProducts`` with ServiceCode ``AmazonSageMaker`` and TERM_MATCH
filters on ``regionCode`` and ``instanceName``; of the products returned, the one whose usage type is
``<region code>-<usage>:<instance type>`` (``Train``, ``Host`` or ``Tsform``: training, real-time hosting,
batch transform; spot and other usage types end differently) gives its on-demand hourly USD price. The Price
List API answers only in a few regions (us-east-1, eu-central-1, ap-south-1; cn-northwest-1 in China), so the
client is made there (``price_list_region``) whatever region the run is in.

When the API is denied or unreachable (any error of the call), the whole sheet comes from the bundled table
``sagemaker_prices.json`` (written by ``scripts/sagemaker_price_table.py`` from the Price List's bulk offer
file format; it records where and when it was made), and the sheet says so. A type neither source prices
raises ``UnknownInstanceTypeError`` naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.lambda_common.aws_errors import error_text

SERVICE_CODE = "AmazonSageMaker"
FORMAT_VERSION = "aws_v1"
PAGE_SIZE = 100  # GetProducts' MaxResults maximum
TRAINING, HOSTING, TRANSFORM = "Train", "Host", "Tsform"  # the usage type's part before ':'
USAGE_WORDS = {TRAINING: "training", HOSTING: "real-time hosting", TRANSFORM: "batch transform"}
API_SOURCE = "AWS Price List API"
TABLE_SOURCE = "bundled price table"
TABLE_FORMAT = "shardlab-sagemaker-prices/1"
PRICE_TABLE = Path(__file__).with_name("sagemaker_prices.json")
SECONDS_PER_HOUR = 3600


class UnknownInstanceTypeError(ValueError):
    """No on-demand price for this instance type and usage in this region: the message names them."""


class UnpricedByTableError(UnknownInstanceTypeError):
    """The API could not be used and the bundled table lacks the type: unknown to us, not necessarily to AWS."""


def price_list_region(region: str) -> str:
    """Where the Price List API answers for a run in ``region``."""
    return "cn-northwest-1" if region.startswith("cn-") else "us-east-1"


def price_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    return [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
    ]


def usage_of(usage_type: str, instance_type: str) -> str | None:
    """``USE1-Train:ml.c5.2xlarge`` -> ``Train`` (for that instance type), else None."""
    match = re.fullmatch(r"(?:[A-Z0-9]+-)?([A-Za-z]+):" + re.escape(instance_type), usage_type)
    return match.group(1) if match else None


def on_demand_hourly_usd(terms: Mapping[str, Any]) -> str | None:
    """The on-demand price per hour in USD of a product's ``terms`` (the offer file's and GetProducts' shape)."""
    for term in sorted(terms.get("OnDemand", {}).values(), key=lambda t: str(t.get("offerTermCode", ""))):
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and str(dimension.get("unit", "")).lower() in ("hrs", "hours", "hour"):
                return str(usd)
    return None


@dataclass(frozen=True)
class Price:
    region: str
    usage: str  # TRAINING | HOSTING | TRANSFORM
    instance_type: str
    usd_per_hour: float
    sku: str

    def dollars(self, instance_seconds: float) -> float:
        return instance_seconds * self.usd_per_hour / SECONDS_PER_HOUR

    def as_report(self) -> dict[str, Any]:
        return {"usage": self.usage, "instanceType": self.instance_type, "usdPerHour": self.usd_per_hour,
                "sku": self.sku}


@dataclass(frozen=True)
class PriceSheet:
    """The prices one run needs, all from one source."""

    region: str
    prices: dict[tuple[str, str], Price]
    source: str  # API_SOURCE | TABLE_SOURCE
    source_detail: str
    fallback_reason: str | None = None

    def price(self, usage: str, instance_type: str) -> Price:
        try:
            return self.prices[(usage, instance_type)]
        except KeyError:
            raise UnknownInstanceTypeError(
                f"no {USAGE_WORDS.get(usage, usage)} price for {instance_type} was looked up"
            ) from None

    def as_report(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "currency": "USD",
            "source": self.source,
            "sourceDetail": self.source_detail,
            "fallbackReason": self.fallback_reason,
            "prices": [price.as_report() for _, price in sorted(self.prices.items())],
        }

    def describe_source(self) -> str:
        text = f"{self.source} ({self.source_detail})"
        return text + (f"; the API was not used: {self.fallback_reason}" if self.fallback_reason else "")


# --- the bundled table --------------------------------------------------------------------------------------


@cache
def bundled_table(path: Path = PRICE_TABLE) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(path.read_text())
    if table.get("format") != TABLE_FORMAT:
        raise ValueError(f"{path.name} is not a {TABLE_FORMAT} table")
    return table


def table_source_detail(table: Mapping[str, Any]) -> str:
    source = table["source"]
    return (f"{PRICE_TABLE.name}, generated {table['generatedAt']} by {table['generatedBy']} from "
            f"{source['offerFile']} (offer publicationDate {source['publicationDate']})")


def _from_table(table: Mapping[str, Any], region: str, wanted: Iterable[tuple[str, str]], why: str) -> PriceSheet:
    entries = {(e["regionCode"], e["usage"], e["instanceName"]): e for e in table["prices"]}
    prices: dict[tuple[str, str], Price] = {}
    for usage, instance_type in wanted:
        entry = entries.get((region, usage, instance_type))
        if entry is None:
            known = sorted({f"{e['instanceName']} ({e['usage']}, {e['regionCode']})" for e in table["prices"]})
            raise UnpricedByTableError(
                f"instance type {instance_type}: the AWS Price List API could not be used ({why}) and the "
                f"bundled price table ({table['generatedAt']}) has no on-demand {USAGE_WORDS[usage]} price for "
                f"{instance_type} in {region}; it covers {', '.join(known)}"
            )
        prices[(usage, instance_type)] = Price(region, usage, instance_type, float(entry["usdPerHour"]),
                                               entry["sku"])
    return PriceSheet(region, prices, TABLE_SOURCE, table_source_detail(table), why)


# --- the Price List API --------------------------------------------------------------------------------------


def _api_products(client: Any, region: str, instance_type: str) -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = []
    request: dict[str, Any] = {"ServiceCode": SERVICE_CODE, "Filters": price_filters(region, instance_type),
                               "FormatVersion": FORMAT_VERSION, "MaxResults": PAGE_SIZE}
    while True:
        answer = client.get_products(**request)
        for item in answer.get("PriceList", []):
            products.append(json.loads(item) if isinstance(item, str) else item)
        if not answer.get("NextToken"):
            return products
        request["NextToken"] = answer["NextToken"]


def _api_price(products: list[dict[str, Any]], region: str, usage: str, instance_type: str) -> Price:
    for product in sorted(products, key=lambda p: str(p.get("product", {}).get("sku", ""))):
        attributes = product.get("product", {}).get("attributes", {})
        if usage_of(str(attributes.get("usagetype", "")), instance_type) != usage:
            continue
        usd = on_demand_hourly_usd(product.get("terms", {}))
        if usd is not None:
            return Price(region, usage, instance_type, float(usd), str(product["product"].get("sku", "")))
    raise UnknownInstanceTypeError(
        f"instance type {instance_type}: the AWS Price List (ServiceCode {SERVICE_CODE}) has no on-demand "
        f"{USAGE_WORDS[usage]} price for it in {region}; SageMaker does not offer it there for "
        f"{USAGE_WORDS[usage]}, or the name is wrong"
    )


def look_up_prices(client: Any, region: str, wanted: Iterable[tuple[str, str]],
                   table: Mapping[str, Any] | None = None) -> PriceSheet:
    """Prices of ``wanted`` (usage, instance type) pairs in ``region``.

    ``client`` is a boto3 ``pricing`` client (made in ``price_list_region(region)``), or None to use the table
    only. Any error of the API call falls back to the bundled table for the whole sheet."""
    wanted = sorted(set(wanted))
    table = table if table is not None else bundled_table()
    if client is None:
        return _from_table(table, region, wanted, "no Price List client was given")
    products: dict[str, list[dict[str, Any]]] = {}
    try:
        for instance_type in sorted({instance_type for _, instance_type in wanted}):
            products[instance_type] = _api_products(client, region, instance_type)
    except (ClientError, BotoCoreError) as error:
        return _from_table(table, region, wanted, f"pricing:GetProducts failed: {error_text(error)}")
    prices = {(usage, t): _api_price(products[t], region, usage, t) for usage, t in wanted}
    detail = f"pricing:GetProducts in {client.meta.region_name}, ServiceCode {SERVICE_CODE}, on-demand"
    return PriceSheet(region, prices, API_SOURCE, detail)
