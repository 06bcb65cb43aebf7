"""The pre-flight's two checks, in order: instance quotas, then the worst-case cost against maxCostUsd."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lambdas.lambda_common.contracts import QuotaCheckEvent
from lambdas.lambda_common.pricing import UnpricedByTableError, price_list_region
from lambdas.preflight.cost_ceiling import check_ceiling, price_sheet, project
from lambdas.preflight.quotas import check_quotas


def preflight(event: QuotaCheckEvent, *, quotas: Any, pricing: Any = None,
              pricing_config: Config | None = None) -> dict[str, Any]:
    """The quota report with the cost projection at ``costProjection``; raises before any SageMaker call.

    A type the Price List API does not price fails the run (UnknownInstanceTypeError: SageMaker does not offer
    it there); one only the fallback table lacks fails it only when maxCostUsd is set."""
    report = check_quotas(quotas, event)
    config = event.as_json()  # the cost terms read the run config's keys
    region = quotas.meta.region_name
    if pricing is None:
        pricing = boto3.client("pricing", region_name=price_list_region(region), config=pricing_config)
    try:
        sheet = price_sheet(pricing, region, config)
    except UnpricedByTableError as error:
        if event.max_cost_usd is not None:
            raise  # a ceiling that cannot be checked is not a ceiling
        # No ceiling: a type only the bundled table lacks (the API being unavailable) does not stop the run.
        return {**report, "costProjection": {"currency": "USD", "unpriced": str(error), "maxCostUsd": None}}
    projection = project(config, sheet, scoring_bound_seconds=event.scoring_bound_seconds)
    check_ceiling(projection)
    return {**report, "costProjection": projection}
