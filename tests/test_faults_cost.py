"""Cost end to end in local mode: the report's dollars and price source (the Price List API on loopback, or the
bundled table when the API is denied), the pre-flight's projection beside them, and a ceiling below the worst
case refusing the run before any SageMaker request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faults_helpers import SMALL_INPUT, RequestCounter, assert_failed_clean, entered_states

from local.runner import LocalShardlab

pytestmark = pytest.mark.slow


def test_the_report_prices_the_run_and_a_low_ceiling_refuses_before_any_sagemaker_request(
    template: dict[str, Any],
) -> None:
    with LocalShardlab(template) as local:
        description = local.run({**SMALL_INPUT, "maxCostUsd": 100})
        assert description["status"] == "SUCCEEDED", description
        summary = json.loads(description["output"])["summary"]
        report = json.loads(local.read_object(summary["report"]["json"].split("/", 3)[3]))
        cost = report["cost"]
        assert cost["prices"]["source"] == summary["priceSource"] == "AWS Price List API"
        for branch in ("replicated", "sharded"):
            training = report["models"][branch]["training"]
            assert cost["branches"][branch]["training"]["usd"] == round(
                training["billableTimeInSeconds"] * training["instanceCount"] * 0.408 / 3600, 4)
            assert cost["branches"][branch]["endpoint"]["usd"] > 0
        assert cost["totalUsd"] == summary["costUsd"] > 0
        projected = cost["projected"]
        assert projected["maxCostUsd"] == 100 and projected["worstCaseUsd"] > cost["totalUsd"]
        assert projected["trainingUsd"] == round(2 * 2 * 3600 * 0.408 / 3600, 4)
        markdown = local.read_object(summary["report"]["markdown"].split("/", 3)[3]).decode()
        assert "## Cost" in markdown and "Projected worst case (pre-flight)" in markdown

        local.sagemaker.price_list.deny = True  # a role without pricing:GetProducts: the bundled table
        counter = RequestCounter(local)
        description = local.run({**SMALL_INPUT, "maxCostUsd": 1.0})
        assert counter.operations == []  # not one SageMaker request
        assert_failed_clean(local, description, "CostLimitExceededError")
        assert entered_states(description["executionArn"]) == ["Validate input", "Check service quotas"]
        message = json.loads(description["cause"])["errorMessage"]
        assert message.startswith("this run's worst case is $")
        assert "above maxCostUsd $1: training $1.64 (2 jobs x instanceCount 2 x maxRuntimeInSeconds 3600 s" in message
        assert "bundled price table" in message and "AccessDeniedException" in message
