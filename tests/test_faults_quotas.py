"""A SageMaker quota too low for the run: the pre-flight fails the execution right after input validation,
with the quota, the need and the value named, before any SageMaker request, and nothing is left behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faults_helpers import SMALL_INPUT, RequestCounter, assert_failed_clean, entered_states, fast_retries

from local.fake_aws import REGION
from local.runner import LocalShardlab
from local.service_quotas import quota_code

pytestmark = pytest.mark.slow

C5 = "ml.c5.2xlarge for training job usage"


def test_a_low_training_quota_fails_at_the_pre_flight_and_nothing_is_left(template: dict[str, Any]) -> None:
    with LocalShardlab(template) as local:
        # A first run with local mode's default quotas prepares the dataset (the later failure must keep it).
        assert local.run(SMALL_INPUT)["status"] == "SUCCEEDED"
        local.sagemaker.quotas.set(C5, 3)  # SMALL_INPUT: 2 jobs x 2 instances = 4
        counter = RequestCounter(local)
        description = local.run(SMALL_INPUT)
        assert counter.operations == []  # not one SageMaker request (before the leak checks below list)
        config = assert_failed_clean(local, description, "InsufficientQuotaError")
        message = json.loads(description["cause"])["errorMessage"]
        assert f"SageMaker quota '{C5}' ({quota_code(C5)}) is 3 in {REGION}, but this run needs 4" in message
        assert "request-service-quota-increase --service-code sagemaker" in message
        assert entered_states(description["executionArn"]) == ["Validate input", "Check service quotas"]
        assert config["instanceCount"] == 2


def test_without_the_pre_flight_local_sagemaker_itself_refuses_and_the_run_cleans_up(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the quota drops after the pre-flight (or another workload takes it), SageMaker's own refusal is
    caught like any training failure."""
    from lambdas.preflight import quotas as preflight_quotas

    monkeypatch.setattr(preflight_quotas, "needs", lambda config: [])  # the pre-flight checks nothing
    # Each job asks for 2 instances, more than the quota of 1, so CreateTrainingJob is refused.
    with LocalShardlab(template, control_plane_options={"quotas": {C5: 1}}) as local, fast_retries():
        counter = RequestCounter(local)
        description = local.run(SMALL_INPUT)
        assert_failed_clean(local, description, "TrainingFailed")
        # A modeled refusal that cannot succeed on retry has its own name, which the Retry does not list: one
        # CreateTrainingJob per branch, failed at once with the cause named.
        assert description["cause"].startswith("SageMaker.ResourceLimitExceededException: ")
        assert counter.operations.count("CreateTrainingJob") <= 2
        assert f"'{C5}' is 1 Instances, with current utilization of 0 Instances and a request delta of 2" in (
            description["cause"])
