"""The one template reader (local.template) finds what the stack marked at synth (stacks.markers), nothing else."""

from __future__ import annotations

from typing import Any

from local.template import LAMBDA_TYPE, lambda_functions, part_of, resources_of_type, state_machine_logical_id
from stacks.markers import LAMBDA_PREFIX, STATE_MACHINE
from stacks.paths import LAMBDA_ROOT

pytest_plugins = ["conftest_stack"]


def test_the_pipeline_is_the_one_marked_state_machine(template: dict[str, Any]) -> None:
    logical_id = state_machine_logical_id(template)
    assert part_of(template["Resources"][logical_id]) == STATE_MACHINE
    assert template["Resources"][logical_id]["Properties"]["StateMachineName"] == "shardlab-pipeline"


def test_the_marked_lambdas_are_exactly_the_ones_with_code_from_lambdas(template: dict[str, Any]) -> None:
    functions = lambda_functions(template)
    for logical_id, function in functions.items():
        assert part_of(template["Resources"][logical_id]) == f"{LAMBDA_PREFIX}{function['handler']}"
        assert LAMBDA_ROOT.parent.joinpath(*function["handler"].split(".")[:2]).is_dir()
    unmarked = {lid: r for lid, r in resources_of_type(template, LAMBDA_TYPE).items() if lid not in functions}
    assert unmarked, "CDK adds functions of its own (custom-resource providers)"
    assert all(not str(r["Properties"].get("Runtime", "")).startswith("python") for r in unmarked.values())
