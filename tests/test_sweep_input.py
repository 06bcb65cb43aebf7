"""The execution input `sweep` (lambdas/workflow_input/sweep.py): each bad value refused by the first state naming
its key path and the limit; the run config's `sweep` (points in product order, names within SageMaker's 63
characters, one shared dataset with lcm(instanceCount) train objects per group, scoring by transform)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from lambdas.lambda_common.contracts import QuotaCheckEvent
from lambdas.workflow_input import handler as workflow_input_handler
from lambdas.workflow_input.config import MAX_NAME_LENGTH, MAX_PREFIX_LENGTH, build_config
from lambdas.workflow_input.schema import INPUT_KEYS
from lambdas.workflow_input.sweep import MAX_SWEEP_POINTS
from lambdas.workflow_input.validators import InvalidExecutionInputError, ValidationContext
from stacks.config_paths import config_path

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
ISSUE_GRID = {"instanceCount": [1, 2, 5, 10],
              "hyperParameters": {"epochs": ["2", "4", "8"], "mini_batch_size": ["200"]}}


def config_for(raw: Any, execution_name: str = "run-1", prefix: str = "shardlab") -> dict[str, Any]:
    return build_config(raw, execution_name=execution_name, bucket="the-bucket", resource_prefix=prefix)


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(InvalidExecutionInputError) as error:
        config_for(raw)
    return str(error.value)


# --- each bad value, named ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sweep", "named"), [
    ({}, "sweep must give at least one of instanceCount, hyperParameters as a list"),
    ([1, 2], "sweep must be an object with at least one of instanceCount, hyperParameters"),
    ({"hyperParameters": {}}, "sweep.hyperParameters must give at least one of epochs, mini_batch_size"),
    ({"instanceCount": []}, "sweep.instanceCount must be a non-empty list, got []"),
    ({"instanceCount": 5}, "sweep.instanceCount must be a non-empty list, got 5"),
    ({"hyperParameters": {"epochs": []}}, "sweep.hyperParameters.epochs must be a non-empty list"),
    ({"hyperParameters": {"epochs": "2"}}, "sweep.hyperParameters.epochs must be a non-empty list"),
    ({"instanceCount": [1, 2, 2]}, "sweep.instanceCount lists 2 twice"),
    ({"hyperParameters": {"mini_batch_size": ["100", "200", "100"]}},
     "sweep.hyperParameters.mini_batch_size lists \"100\" twice"),
    # the single run's own checks, named at the list item
    ({"instanceCount": [1, 0]}, "sweep.instanceCount[1] must be between 1 and 100, got 0"),
    ({"instanceCount": [101]}, "sweep.instanceCount[0] must be between 1 and 100, got 101"),
    ({"instanceCount": [2.0]}, "sweep.instanceCount[0] must be an integer, got 2.0"),
    ({"instanceCount": [True]}, "sweep.instanceCount[0] must be an integer, got true"),
    ({"hyperParameters": {"epochs": [4]}},
     "sweep.hyperParameters.epochs[0] must be a non-empty string (SageMaker passes strings), got 4"),
    ({"hyperParameters": {"epochs": [""]}}, "sweep.hyperParameters.epochs[0] must be a non-empty string"),
    ({"hyperParameters": {"epochs": ["0"]}}, "sweep.hyperParameters.epochs[0] must be a positive integer"),
    ({"hyperParameters": {"epochs": ["02"]}}, "without leading zeros"),
    ({"hyperParameters": {"mini_batch_size": ["1e3"]}}, "sweep.hyperParameters.mini_batch_size[0] must be a "
                                                        "positive integer"),
    ({"hyperParameters": {"epochs": ["1234567"]}}, "at most 6 digits"),
    # keys
    ({"epochs": ["2"]}, "sweep has unknown key(s) sweep.epochs; allowed: instanceCount, hyperParameters"),
    ({"hyperParameters": {"epochs": ["2"], "learning_rate": ["0.1"]}},
     "sweep.hyperParameters has unknown key(s) sweep.hyperParameters.learning_rate; allowed: epochs, mini_batch_size"),
    # the limits
    ({"instanceCount": [1, 2, 4, 5], "hyperParameters": {"epochs": ["1", "2", "3", "4", "5", "6", "7"]}},
     "sweep has 28 points (4 instanceCount x 7 hyperParameters.epochs); a sweep runs at most 24"),
    ({"hyperParameters": {"epochs": [str(n) for n in range(1, 6)], "mini_batch_size": ["100", "200", "300",
                                                                                       "400", "500"]}},
     "sweep has 25 points (5 hyperParameters.epochs x 5 hyperParameters.mini_batch_size)"),
    ({"instanceCount": [3, 7, 11]}, "sweep.instanceCount [3, 7, 11] cannot share one dataset: its shard plan would "
                                    "be lcm = 231 train objects per source group"),
    ({"instanceCount": [8, 9, 10]}, "lcm = 360 train objects per source group (every count must divide it), above "
                                    "the limit of 100"),
])
def test_a_bad_sweep_is_refused_naming_the_key_and_the_limit(sweep: Any, named: str) -> None:
    assert named in refusal({"sweep": sweep})


@pytest.mark.parametrize(("raw", "named"), [
    ({"instanceCount": 2, "sweep": {"instanceCount": [1, 2]}},
     "instanceCount and sweep.instanceCount are both given; give it in one place"),
    ({"hyperParameters": {"epochs": "3"}, "sweep": {"hyperParameters": {"epochs": ["2", "4"]}}},
     "hyperParameters.epochs and sweep.hyperParameters.epochs are both given; give it in one place"),
    ({"hyperParameters": {"mini_batch_size": "300"}, "sweep": {"instanceCount": [1],
                                                               "hyperParameters": {"mini_batch_size": ["2"]}}},
     "hyperParameters.mini_batch_size and sweep.hyperParameters.mini_batch_size are both given"),
    ({"scoring": "endpoint", "sweep": {"instanceCount": [1, 2]}},
     "scoring \"endpoint\" cannot go with a sweep: a sweep scores every point by batch transform"),
    ({"keepEndpoints": True, "sweep": {"instanceCount": [1, 2]}},
     "keepEndpoints true cannot go with a sweep: a sweep scores by batch transform and has no endpoints"),
])
def test_a_sweep_that_conflicts_with_other_keys_is_refused_naming_both(raw: dict[str, Any], named: str) -> None:
    assert named in refusal(raw)


def test_what_the_sweep_does_not_list_may_be_given_at_top_level() -> None:
    config = config_for({"instanceCount": 3, "scoring": "transform", "keepEndpoints": False,
                         "hyperParameters": {"epochs": "3", "learning_rate": "0.1"},
                         "sweep": {"hyperParameters": {"mini_batch_size": ["100", "200"]}}})
    assert config["instanceCount"] == 3  # P is the run's own count when the sweep does not list instanceCount
    assert [p["instanceCount"] for p in config["sweep"]["points"]] == [3, 3]
    assert [p["hyperParameters"] for p in config["sweep"]["points"]] == [{"mini_batch_size": "100"},
                                                                         {"mini_batch_size": "200"}]
    assert config["hyperParameters"]["epochs"] == "3" and config["hyperParameters"]["learning_rate"] == "0.1"


def test_deployment_defaults_are_not_given_keys() -> None:
    """A deployment's default instanceCount or scoring does not conflict with a sweep: the sweep decides."""
    defaults = {**{key: row.default for key, row in INPUT_KEYS.items()}, "instanceCount": 4, "scoring": "endpoint"}
    config = build_config({"sweep": {"instanceCount": [1, 2]}}, execution_name="e", bucket="b",
                          resource_prefix="shardlab", defaults=defaults)
    assert config["instanceCount"] == 2 and config["scoring"] == "transform"


def test_the_largest_grid_is_accepted() -> None:
    config = config_for({"sweep": {"instanceCount": [1, 2, 4, 5, 10, 20, 25, 50], "hyperParameters": {
        "epochs": ["1", "999999", "15"]}}})
    assert len(config["sweep"]["points"]) == MAX_SWEEP_POINTS == 8 * 3
    assert config["instanceCount"] == 100  # lcm: exactly the limit


# --- the run config --------------------------------------------------------------------------------------------


def test_the_issue_grid_expands_in_product_order_with_the_shared_shard_plan() -> None:
    config = config_for({"sweep": ISSUE_GRID})
    sweep = config["sweep"]
    assert sweep["grid"] == ISSUE_GRID
    assert len(sweep["points"]) == 12
    assert [(p["point"], p["instanceCount"], p["hyperParameters"]) for p in sweep["points"][:4]] == [
        ("p01", 1, {"epochs": "2", "mini_batch_size": "200"}),
        ("p02", 1, {"epochs": "4", "mini_batch_size": "200"}),
        ("p03", 1, {"epochs": "8", "mini_batch_size": "200"}),
        ("p04", 2, {"epochs": "2", "mini_batch_size": "200"}),
    ]
    assert sweep["points"][-1]["point"] == "p12" and sweep["points"][-1]["instanceCount"] == 10
    # one dataset: P = lcm(1, 2, 5, 10) = 10 train objects per source group, which every point's count divides
    assert config["instanceCount"] == 10 == math.lcm(*ISSUE_GRID["instanceCount"])
    assert all(config["instanceCount"] % p["instanceCount"] == 0 for p in sweep["points"])
    assert config["scoring"] == "transform" and config["keepEndpoints"] is False
    run_id = config["runId"]
    assert sweep["points"][0]["config"] == {
        "instanceCount": 1,
        "names": {"replicated": f"shardlab-{run_id}-p01-replicated", "sharded": f"shardlab-{run_id}-p01-sharded"},
        "runPrefix": f"runs/{run_id}/points/p01/",
    }
    # the top level stays the run's own (the sweep report goes under runs/<runId>/)
    assert config["runPrefix"] == f"runs/{run_id}/"
    assert config["names"]["sharded"] == f"shardlab-{run_id}-sharded"
    assert {"Key": "shardlab:run", "Value": run_id} in config["tags"]


def test_a_sweep_shares_the_dataset_of_a_plain_run_with_its_shard_plan() -> None:
    swept = config_for({"sweep": {"instanceCount": [1, 2, 5], "hyperParameters": {"epochs": ["2", "4"]}}})
    plain = config_for({"instanceCount": 10})
    assert swept["datasetPrefix"] == plain["datasetPrefix"]
    assert swept["datasetPrefix"] != config_for({"instanceCount": 5})["datasetPrefix"]
    # the grid itself is not a data parameter: another epochs list shares the dataset
    assert config_for({"sweep": {"instanceCount": [2, 5], "hyperParameters": {"epochs": ["8"]}}})[
        "datasetPrefix"] == plain["datasetPrefix"]


def test_without_a_sweep_the_config_has_none_and_is_unchanged() -> None:
    config = config_for({"instanceCount": 3})
    assert config["sweep"] is None and config["instanceCount"] == 3 and config["scoring"] == "endpoint"
    assert config_for({"sweep": None}) == config_for({})


@pytest.mark.parametrize("execution_name", ["a" * 80, "x", "Über-läuft " * 10, "-" * 30 + "ab", "abc-" * 20])
def test_point_names_fit_sagemaker_limits_for_any_execution_name(execution_name: str) -> None:
    prefix = "a" * MAX_PREFIX_LENGTH
    config = config_for({"sweep": {"instanceCount": [1, 2, 4, 5, 10, 20, 25, 50],
                                   "hyperParameters": {"epochs": ["1", "2", "3"]}}}, execution_name, prefix)
    names = [name for point in config["sweep"]["points"] for name in point["config"]["names"].values()]
    assert len(names) == 48 == len(set(names)) and not set(names) & set(config["names"].values())
    for name in names:
        assert len(name) <= MAX_NAME_LENGTH and NAME.match(name), name
        assert name.startswith(f"{prefix}-") and config["runId"][-8:] in name
    if execution_name == "a" * 80:  # the longest run part: exactly the limit
        assert max(map(len, names)) == MAX_NAME_LENGTH


def test_the_first_state_returns_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARDLAB_BUCKET", "b")
    monkeypatch.setenv("SHARDLAB_PREFIX", "lab")
    monkeypatch.delenv("SHARDLAB_DEFAULTS", raising=False)
    config = workflow_input_handler.handler(
        {"input": {"sweep": {"instanceCount": [1, 2]}}, "executionName": "e", "executionStartTime": "2026-01-01"},
        None)
    assert [p["point"] for p in config["sweep"]["points"]] == ["p01", "p02"]
    assert len(json.dumps(config["sweep"])) < 1000
    assert config_path("sweep.points") == "$.config.sweep.points"


def test_the_largest_sweep_config_stays_small() -> None:
    """24 points carry at most 2 short swept values each: the config's sweep stays a few KB (the payload bounds
    of the state machine are computed from it)."""
    config = config_for({"sweep": {"instanceCount": [1, 2, 4, 5, 10, 20, 25, 50], "hyperParameters": {
        "epochs": ["999997", "999998", "999999"]}}}, "x" * 80, "a" * MAX_PREFIX_LENGTH)
    assert len(json.dumps(config["sweep"], separators=(",", ":"))) < 8 * 1024


# --- events read the config's sweep -----------------------------------------------------------------------------


def test_events_parse_the_config_sweep_and_refuse_a_tampered_one() -> None:
    config = config_for({"sweep": {"instanceCount": [1, 2, 5], "hyperParameters": {"epochs": ["2", "4"]}}})
    event = QuotaCheckEvent.for_run(config, scoring_bound_seconds=900)
    assert event.sweep == config["sweep"] and event.instance_count == 10
    assert QuotaCheckEvent.for_run(config_for({}), scoring_bound_seconds=900).sweep is None
    bad_point = json.loads(json.dumps(config["sweep"]))
    bad_point["points"][1]["config"]["names"] = {"replicated": "x"}
    bad_grid = {**config["sweep"], "grid": {"instanceCount": [1, 1]}}
    for tampered, named in ((bad_point, r"sweep.points\[1\].config must be"),
                            (bad_grid, "sweep.grid.instanceCount lists 1 twice"),
                            ({"instanceCount": [1, 2]}, "sweep must be null or the run config's {grid, points}")):
        with pytest.raises(ValueError, match=named):
            QuotaCheckEvent.parse({**event.as_json(), "sweep": tampered})


def test_the_row_validator_and_the_config_validator_differ() -> None:
    row = INPUT_KEYS["sweep"]
    context = ValidationContext(latest_year=2025)
    expanded = config_for({"sweep": {"instanceCount": [1, 2]}})["sweep"]
    assert row.validate_config("sweep", expanded, context) == expanded
    with pytest.raises(InvalidExecutionInputError, match="sweep has unknown key"):
        row.validate("sweep", expanded, context)
