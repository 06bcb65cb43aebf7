"""Second state of the pipeline: `{"instanceCount", "trainingInstanceType", "hostingInstanceType",
"useSpotInstances"}` -> the quotas checked (or InsufficientQuotaError)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lambda_common.contracts import QuotaCheckEvent
from preflight.quotas import check_quotas

# Throttling is retried with backoff inside the call; what still fails is reported as unchecked.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6})


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return check_quotas(boto3.client("service-quotas", config=CLIENT_CONFIG), QuotaCheckEvent.parse(event))
