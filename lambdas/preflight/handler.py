"""Second state of the pipeline: `{"instanceCount", "trainingInstanceType", "hostingInstanceType",
"useSpotInstances", "maxRuntimeInSeconds", "maxWaitTimeInSeconds", "endpointPollSchedule", "maxCostUsd",
"scoringBoundSeconds"}` -> the quotas checked and the cost projection (or InsufficientQuotaError /
CostLimitExceededError)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lambdas.lambda_common.contracts import QuotaCheckEvent
from lambdas.preflight.checks import preflight

# Throttling is retried with backoff inside the call; what still fails is reported as unchecked.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6})
PRICING_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=15)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    quotas = boto3.client("service-quotas", config=CLIENT_CONFIG)
    return preflight(QuotaCheckEvent.parse(event), quotas=quotas, pricing_config=PRICING_CONFIG)
