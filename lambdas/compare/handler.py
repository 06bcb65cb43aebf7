"""Lambda entry points of the compare step (``lambdas.compare.handler.handler``) and of the sweep report
(``lambdas.compare.handler.sweep_report``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from lambdas.compare.comparison import CompareRequest, run_comparison
from lambdas.compare.sweep import SAGEMAKER_CLOCK, SIMULATED_CLOCK, SweepReportError, run_sweep_report
from lambdas.lambda_common.contracts import SweepReportEvent, SweepReportResult
from lambdas.lambda_common.pricing import price_list_region

CONCURRENCY_PER_ENDPOINT = 4


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = CompareRequest.from_event(event)
    namespace = os.environ.get("SHARDLAB_METRICS_NAMESPACE")
    if not namespace:
        raise RuntimeError("SHARDLAB_METRICS_NAMESPACE is not set: the stack sets it to the metrics namespace")
    # Retries are ours (scoring.RetryPolicy) so failures name the batch; pool sized for both endpoints.
    runtime_config = Config(
        retries={"total_max_attempts": 1},
        max_pool_connections=2 * CONCURRENCY_PER_ENDPOINT,
        read_timeout=75,  # the container must answer within 60 s
    )
    sagemaker = boto3.client("sagemaker")
    # The Price List API answers in a few regions only; a failing call falls back to the bundled table.
    pricing = boto3.client("pricing", region_name=price_list_region(sagemaker.meta.region_name),
                           config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5,
                                         read_timeout=15))
    return run_comparison(
        request,
        s3=boto3.client("s3"),
        sagemaker=sagemaker,
        pricing=pricing,
        runtime=boto3.client("sagemaker-runtime", config=runtime_config),
        cloudwatch=boto3.client("cloudwatch"),
        metrics_namespace=namespace,
        concurrency_per_endpoint=CONCURRENCY_PER_ENDPOINT,
    )


def sweep_report(event: dict[str, Any], context: object) -> SweepReportResult:
    request = SweepReportEvent.parse(event, error=SweepReportError)
    return run_sweep_report(request, s3=boto3.client("s3"), clock=training_clock(os.environ))


def training_clock(environ: Mapping[str, str]) -> str:
    """``simulated`` when SageMaker is local mode's (boto3's SageMaker endpoint override on the loopback address,
    where no real SageMaker answers), else ``sagemaker``: the sweep report labels the times it shows."""
    host = urlsplit(environ.get("AWS_ENDPOINT_URL_SAGEMAKER", "")).hostname or ""
    return SIMULATED_CLOCK if host == "localhost" or host.startswith("127.") or host == "::1" else SAGEMAKER_CLOCK
