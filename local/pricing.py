"""Local AWS Price List API (``GetProducts``) for SageMaker, served from the bundled price table.

moto has no Price List API, so local mode answers it on the local SageMaker's 127.0.0.1 server (JSON 1.1,
``X-Amz-Target: AWSPriceListService.GetProducts``; boto3 gets there through ``AWS_ENDPOINT_URL_PRICING``), from
``lambdas/lambda_common/sagemaker_prices.json``: each entry becomes one product in GetProducts' format (a JSON
string per product: ``product`` {productFamily, attributes, sku}, ``serviceCode``, ``terms.OnDemand``,
``version``, ``publicationDate``). Requests are validated against botocore's ``pricing`` model; filters
``TERM_MATCH``/``EQUALS`` match a product attribute (or ``productFamily``/``sku``) exactly, as AWS does.

``deny=True`` answers every call ``AccessDeniedException`` (a role without ``pricing:GetProducts``), so tests
and runs can exercise the fallback to the bundled table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from lambdas.lambda_common.pricing import SERVICE_CODE, bundled_table
from local.errors import SageMakerApiError

TARGET_PREFIX = "AWSPriceListService."
OPERATIONS = ("GetProducts",)
DEFAULT_PAGE_SIZE = 100
MATCHING_FILTERS = ("TERM_MATCH", "EQUALS")


def product_document(entry: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """One price table entry as the Price List answers it (the offer file's product and its on-demand term)."""
    sku, term_code = entry["sku"], entry["offerTermCode"]
    rate_code = f"{sku}.{term_code}.6YS6EN2CT7"
    component = entry["attributes"].get("component", entry["usage"])
    return {
        "product": {"productFamily": entry["productFamily"], "attributes": dict(entry["attributes"]), "sku": sku},
        "serviceCode": SERVICE_CODE,
        "terms": {"OnDemand": {f"{sku}.{term_code}": {
            "priceDimensions": {rate_code: {
                "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [], "rateCode": rate_code,
                "description": f"${float(entry['usdPerHour']):g} per On Demand {entry['instanceName']} {component} "
                               "instance hour",
                "pricePerUnit": {"USD": entry["usdPerHour"]},
            }},
            "sku": sku, "effectiveDate": entry["effectiveDate"], "offerTermCode": term_code, "termAttributes": {},
        }}},
        "version": table["source"]["version"],
        "publicationDate": table["source"]["publicationDate"],
    }


class LocalPriceList:
    """``GetProducts`` of ServiceCode AmazonSageMaker over the bundled table; thread-safe (read-only)."""

    def __init__(self, table: Mapping[str, Any] | None = None, *, deny: bool = False) -> None:
        self.table = table if table is not None else bundled_table()
        self.deny = deny
        self.requests: list[dict[str, Any]] = []  # what was asked, for tests
        self._products = [product_document(entry, self.table) for entry in self.table["prices"]]
        self._model = botocore.session.get_session().get_service_model("pricing")
        self._validator = ParamValidator()

    def handle(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if operation not in OPERATIONS:
            raise SageMakerApiError("InvalidParameterException", f"The local Price List does not implement {operation}")
        report = self._validator.validate(dict(params), self._model.operation_model(operation).input_shape)
        if report.has_errors():
            raise SageMakerApiError("InvalidParameterException", report.generate_report())
        self.requests.append(dict(params))
        if self.deny:
            raise SageMakerApiError(
                "AccessDeniedException",
                "User is not authorized to perform: pricing:GetProducts (local Price List, deny=True)",
            )
        if params["ServiceCode"] != SERVICE_CODE:
            raise SageMakerApiError("NotFoundException",
                                    f"The local Price List serves only {SERVICE_CODE}, not {params['ServiceCode']}")
        matching = [p for p in self._products if all(_matches(p, f) for f in params.get("Filters", []))]
        token = str(params.get("NextToken") or "0")
        start = int(token) if token.isdigit() else -1
        if not 0 <= start <= len(matching):
            raise SageMakerApiError("InvalidNextTokenException", "The pagination token is invalid.")
        size = int(params.get("MaxResults") or DEFAULT_PAGE_SIZE)
        answer: dict[str, Any] = {
            "FormatVersion": params.get("FormatVersion", "aws_v1"),
            # PriceList members are JSON strings on the wire (botocore's jsonvalue trait decodes them).
            "PriceList": [json.dumps(p) for p in matching[start:start + size]],
        }
        if start + size < len(matching):
            answer["NextToken"] = str(start + size)
        return answer


def _matches(product: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    if condition["Type"] not in MATCHING_FILTERS:
        raise SageMakerApiError("InvalidParameterException",
                                f"The local Price List supports filter types {MATCHING_FILTERS}, "
                                f"not {condition['Type']}")
    field, value = condition["Field"], condition["Value"]
    if field in ("productFamily", "sku"):
        return bool(product["product"].get(field) == value)
    return bool(product["product"]["attributes"].get(field) == value)
