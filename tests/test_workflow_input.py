"""workflow_input: defaults, validation (errors name the field), derived names and prefixes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lambdas.workflow_input import handler as workflow_input_handler
from lambdas.workflow_input.config import (
    MAX_PREFIX_LENGTH,
    build_config,
    check_resource_prefix,
    dataset_prefix_for,
    run_id_for,
)
from lambdas.workflow_input.schema import BASE_HYPERPARAMETERS, DEFAULTS
from lambdas.workflow_input.validators import InvalidExecutionInputError

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def config_for(raw: Any, execution_name: str = "run-1", prefix: str = "shardlab") -> dict[str, Any]:
    return build_config(raw, execution_name=execution_name, bucket="the-bucket", resource_prefix=prefix)


def test_empty_input_gets_every_default_and_the_derived_fields() -> None:
    config = config_for({})
    assert config["trainYears"] == [1979, 1980, 1981, 1982, 1983]
    assert config["testYear"] == 1984
    assert config["instanceCount"] == 5 and config["trainingInstanceType"] == "ml.c5.2xlarge"
    assert config["hostingInstanceType"] == "ml.m5.xlarge"
    assert config["keepEndpoints"] is False and config["useSpotInstances"] is False
    assert config["hyperParameters"] == BASE_HYPERPARAMETERS
    assert config["bucket"] == "the-bucket"
    assert config["runPrefix"] == f"runs/{config['runId']}/"
    assert re.fullmatch(r"datasets/[0-9a-f]{16}/", config["datasetPrefix"])
    assert config["names"] == {"replicated": f"shardlab-{config['runId']}-replicated",
                               "sharded": f"shardlab-{config['runId']}-sharded"}
    assert config["shardYears"][-1] == {"year": 1984, "role": "test", "group": 0, "layout": "yearly"}
    assert [s["year"] for s in config["shardYears"][:-1]] == config["trainYears"]
    assert config["stoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert config["endpointPollSchedule"] == [30] * 120  # every 30 s for an hour
    assert config["maxEndpointPolls"] == 119  # the loop's counter runs 0..119: 120 polls
    assert {"Key": "shardlab:stack", "Value": "shardlab"} in config["tags"]
    assert {"Key": "shardlab:run", "Value": config["runId"]} in config["tags"]
    assert config_for(None) == config


def test_overrides_apply_and_years_are_sorted() -> None:
    config = config_for({"trainYears": [1990, 1985], "testYear": 2005, "instanceCount": 2,
                         "trainingInstanceType": "ml.c4.2xlarge", "hyperParameters": {"epochs": "10"},
                         "keepEndpoints": True})
    assert config["trainYears"] == [1985, 1990]
    assert config["hyperParameters"]["epochs"] == "10"
    assert config["hyperParameters"]["loss"] == "absolute_loss"
    assert config["trainingInstanceType"] == "ml.c4.2xlarge" and config["keepEndpoints"] is True


def test_spot_training_adds_max_wait_time() -> None:
    config = config_for({"useSpotInstances": True, "maxRuntimeInSeconds": 1800, "maxWaitTimeInSeconds": 3600})
    assert config["stoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"trainYears": [1978]}, "trainYears[0]"),
        ({"trainYears": [1979, 2999]}, "trainYears[1]"),
        ({"trainYears": []}, "trainYears"),
        ({"trainYears": "1979"}, "trainYears"),
        ({"trainYears": [1979, 1979]}, "trainYears"),
        ({"trainYears": [1979.0]}, "trainYears[0]"),
        ({"trainYears": [True]}, "trainYears[0]"),
        ({"testYear": 1983}, "testYear"),
        ({"testYear": 2999}, "testYear"),
        ({"testYear": "1984"}, "testYear"),
        ({"instanceCount": 0}, "instanceCount"),
        ({"instanceCount": -1}, "instanceCount"),
        ({"instanceCount": 2.5}, "instanceCount"),
        ({"instanceCount": "5"}, "instanceCount"),
        ({"topEventCodes": 0}, "topEventCodes"),
        ({"trainingInstanceType": "c5.2xlarge"}, "trainingInstanceType"),
        ({"hostingInstanceType": 5}, "hostingInstanceType"),
        ({"hyperParameters": {"epochs": 3}}, "hyperParameters.epochs"),
        ({"hyperParameters": ["epochs"]}, "hyperParameters"),
        ({"hyperParameters": {"feature_dim": "25"}}, "hyperParameters.feature_dim"),
        ({"hyperParameters": {"Bad Name": "1"}}, "hyperParameters"),
        ({"useSpotInstances": "yes"}, "useSpotInstances"),
        ({"keepEndpoints": 1}, "keepEndpoints"),
        ({"endpointPollSeconds": 0}, "endpointPollSeconds"),
        ({"sourceBucket": "Not_A_Bucket"}, "sourceBucket"),
        ({"sourcePrefix": "events"}, "sourcePrefix"),
        ({"seed": -1}, "seed"),
        ({"trainFraction": 1.0}, "trainFraction"),
        ({"trainFraction": float("nan")}, "trainFraction"),
        ({"maxBadRowFraction": -0.1}, "maxBadRowFraction"),
        ({"useSpotInstances": True, "maxWaitTimeInSeconds": 60, "maxRuntimeInSeconds": 120},
         "maxWaitTimeInSeconds"),
        ({"trainYear": [1979]}, "trainYear"),
        ({"keepEndpoint": True, "zzz": 1}, "keepEndpoint, zzz"),
    ],
)
def test_invalid_input_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidExecutionInputError) as error:
        config_for(raw)
    assert field in str(error.value)


def test_input_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(InvalidExecutionInputError, match="JSON object"):
        config_for([1979])


@pytest.mark.parametrize(
    "execution_name",
    ["run-1", "a" * 80, "Émilie's run #3 (retry)", "----", "UPPER_case.name", "x"],
)
def test_names_fit_sagemaker_limits_for_any_execution_name(execution_name: str) -> None:
    prefix = "p" * MAX_PREFIX_LENGTH
    config = config_for({}, execution_name=execution_name, prefix=prefix)
    for name in config["names"].values():
        assert len(name) <= 63 and NAME.match(name), name
        assert name.startswith(f"{prefix}-")
    assert len(config["runId"].rsplit("-", 1)[0]) <= 24


def test_run_ids_differ_for_names_that_sanitize_alike_and_for_reused_names() -> None:
    assert run_id_for("run 1") != run_id_for("run-1") != run_id_for("RUN-1")
    assert run_id_for("run-1", "2026-01-01T00:00:00Z") == run_id_for("run-1", "2026-01-01T00:00:00Z")
    # The same execution name months later (or on a redeployed stack) must not reuse training job names.
    assert run_id_for("run-1", "2026-01-01T00:00:00Z") != run_id_for("run-1", "2026-05-01T00:00:00Z")
    assert run_id_for("----").startswith("run-")


def test_dataset_prefix_depends_on_data_parameters_only() -> None:
    base = config_for({})
    assert dataset_prefix_for(config_for({"keepEndpoints": True, "endpointPollSeconds": 5})) == base["datasetPrefix"]
    assert config_for({}, execution_name="other")["datasetPrefix"] == base["datasetPrefix"]
    # instanceCount is the shard plan (train parts per year), so it is a data parameter
    for change in ({"topEventCodes": 10}, {"seed": 1}, {"testYear": 1985}, {"trainYears": [1979]},
                   {"trainFraction": 0.8}, {"sourcePrefix": "events/mirror/"}, {"instanceCount": 2}):
        assert config_for(change)["datasetPrefix"] != base["datasetPrefix"], change


@pytest.mark.parametrize("prefix", ["Shardlab", "1lab", "lab-", "a" * (MAX_PREFIX_LENGTH + 1), "", "lab_x"])
def test_resource_prefix_must_be_lowercase_and_short(prefix: str) -> None:
    with pytest.raises(ValueError, match="resource prefix"):
        check_resource_prefix(prefix)


def test_handler_uses_stack_environment_and_deployment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARDLAB_BUCKET", "stack-bucket")
    monkeypatch.setenv("SHARDLAB_PREFIX", "lab")
    monkeypatch.setenv("SHARDLAB_DEFAULTS", json.dumps({**DEFAULTS, "instanceCount": 3}))
    event = {"input": {}, "executionName": "exec", "executionStartTime": "2026-01-01T00:00:00.000Z"}
    config = workflow_input_handler.handler(event, None)
    assert config["bucket"] == "stack-bucket" and config["instanceCount"] == 3
    assert config["names"]["sharded"].startswith("lab-exec-")
    assert config["runId"] == run_id_for("exec", "2026-01-01T00:00:00.000Z")


def test_handler_rejects_unknown_deployment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARDLAB_BUCKET", "b")
    monkeypatch.setenv("SHARDLAB_PREFIX", "lab")
    monkeypatch.setenv("SHARDLAB_DEFAULTS", json.dumps({"instances": 3}))
    with pytest.raises(ValueError, match="instances"):
        workflow_input_handler.handler(
            {"input": {}, "executionName": "exec", "executionStartTime": "2026-01-01T00:00:00.000Z"}, None
        )


def test_handler_checks_the_source_against_the_deployed_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARDLAB_BUCKET", "b")
    monkeypatch.setenv("SHARDLAB_PREFIX", "lab")
    monkeypatch.setenv("SHARDLAB_SOURCE_LOCATIONS", json.dumps(["s3://gdelt-open-data/events/", "s3://mirror/"]))
    event = {"input": {"sourceBucket": "mirror", "sourcePrefix": "gdelt/"}, "executionName": "exec",
             "executionStartTime": "2026-01-01T00:00:00.000Z"}
    assert workflow_input_handler.handler(event, None)["sourceBucket"] == "mirror"
    monkeypatch.setenv("SHARDLAB_SOURCE_LOCATIONS", json.dumps(["s3://gdelt-open-data/events/"]))
    with pytest.raises(ValueError, match="s3://mirror/gdelt/ is outside the locations"):
        workflow_input_handler.handler(event, None)


def test_dataset_prefixes_are_pinned() -> None:
    """The cache key's bytes: a refactor of the schema must keep every prepared dataset reusable."""
    assert config_for({})["datasetPrefix"] == "datasets/72637e3403bc1801/"
    custom = build_config({"trainYears": [2006, 1990], "testYear": 2010, "instanceCount": 3, "topEventCodes": 7,
                           "seed": 0, "trainFraction": 0.5, "maxBadRowFraction": 0, "sourceBucket": "mirror",
                           "sourcePrefix": ""}, execution_name="x", bucket="b", resource_prefix="shardlab",
                          source_locations=["s3://mirror/"])
    assert custom["datasetPrefix"] == "datasets/ad0697a2558c4b24/"
