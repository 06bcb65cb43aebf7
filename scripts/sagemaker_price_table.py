"""Writes the bundled SageMaker price table (lambdas/lambda_common/sagemaker_prices.json) from Price List data.

Input: AWS Price List bulk offer files of ``AmazonSageMaker`` in their documented JSON format (one per region:
``https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/current/<region>/index.json``):
``{"formatVersion", "offerCode", "version", "publicationDate", "products": {sku: {"sku", "productFamily",
"attributes": {"regionCode", "instanceName", "usagetype", ...}}}, "terms": {"OnDemand": {sku: {term code:
{"offerTermCode", "effectiveDate", "priceDimensions": {rate code: {"unit": "Hrs", "pricePerUnit": {"USD"}}}}}}}}``.

Output: for each requested instance type and usage (``Train``, ``Host``, ``Tsform``), its on-demand hourly USD
price, product attributes and SKU, with the table's provenance: the offer file(s) read, their publication date
and version, and when the table was generated. The pipeline's Lambdas read it when the Price List API is denied
or unreachable; local mode serves GetProducts from it.

    .venv/bin/python scripts/sagemaker_price_table.py --offer index.json --source-url URL \
        --instance-type ml.c5.2xlarge --instance-type ml.m5.xlarge
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "lambdas"))

from lambdas.lambda_common.pricing import (  # noqa: E402
    PRICE_TABLE,
    SERVICE_CODE,
    TABLE_FORMAT,
    USAGE_WORDS,
    on_demand_hourly_usd,
    usage_of,
)

GENERATED_BY = "scripts/sagemaker_price_table.py"


class OfferFileError(ValueError):
    """The file is not an AmazonSageMaker offer file, or lacks a requested price."""


def price_entries(offer: Mapping[str, Any], instance_types: Iterable[str]) -> list[dict[str, Any]]:
    """The on-demand entries of ``instance_types`` (every usage of USAGE_WORDS the offer prices) in one offer."""
    if offer.get("offerCode") != SERVICE_CODE:
        raise OfferFileError(f"not an {SERVICE_CODE} offer file (offerCode {offer.get('offerCode')!r})")
    wanted = set(instance_types)
    on_demand = offer.get("terms", {}).get("OnDemand", {})
    entries = []
    for sku, product in sorted(offer.get("products", {}).items()):
        attributes = product.get("attributes", {})
        instance_type = attributes.get("instanceName")
        if instance_type not in wanted:
            continue
        usage = usage_of(str(attributes.get("usagetype", "")), instance_type)
        if usage not in USAGE_WORDS:
            continue
        terms = {"OnDemand": on_demand.get(sku, {})}
        usd = on_demand_hourly_usd(terms)
        if usd is None:
            continue
        (term,) = sorted(terms["OnDemand"].values(), key=lambda t: str(t.get("offerTermCode")))[:1]
        entries.append({
            "regionCode": attributes["regionCode"],
            "usage": usage,
            "instanceName": instance_type,
            "usdPerHour": usd,
            "sku": sku,
            "productFamily": product.get("productFamily", ""),
            "attributes": dict(attributes),
            "offerTermCode": term.get("offerTermCode", ""),
            "effectiveDate": term.get("effectiveDate", ""),
        })
    return entries


def price_table(offers: Sequence[tuple[str, Mapping[str, Any]]], instance_types: Sequence[str],
                generated_at: datetime.date) -> dict[str, Any]:
    """The table of ``offers`` ((where it came from, offer file) pairs); every type must be priced in each."""
    entries: list[dict[str, Any]] = []
    for origin, offer in offers:
        found = price_entries(offer, instance_types)
        missing = sorted(set(instance_types) - {entry["instanceName"] for entry in found})
        if missing:
            raise OfferFileError(f"{origin} has no on-demand price for {', '.join(missing)}")
        entries += found
    return {
        "format": TABLE_FORMAT,
        "generatedAt": generated_at.isoformat(),
        "generatedBy": GENERATED_BY,
        "source": {
            "offerFile": ", ".join(origin for origin, _ in offers),
            "publicationDate": ", ".join(sorted({str(offer.get("publicationDate")) for _, offer in offers})),
            "version": ", ".join(sorted({str(offer.get("version")) for _, offer in offers})),
            "disclaimer": " | ".join(sorted({str(offer.get("disclaimer", "")) for _, offer in offers})),
        },
        "currency": "USD",
        "prices": sorted(entries, key=lambda e: (e["regionCode"], e["instanceName"], e["usage"])),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offer", action="append", required=True, type=Path, help="an offer file (index.json)")
    parser.add_argument("--source-url", action="append", default=[],
                        help="where each --offer was downloaded from (recorded in the table), in order")
    parser.add_argument("--instance-type", action="append", required=True)
    parser.add_argument("--out", type=Path, default=PRICE_TABLE)
    parser.add_argument("--date", type=datetime.date.fromisoformat, default=datetime.date.today())
    args = parser.parse_args(argv)
    origins = args.source_url + [str(path) for path in args.offer[len(args.source_url):]]
    offers = [(origin, json.loads(path.read_text())) for origin, path in zip(origins, args.offer, strict=True)]
    try:
        table = price_table(offers, args.instance_type, args.date)
    except OfferFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(table['prices'])} prices to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
