"""The Lambdas' typed contracts (lambdas.lambda_common.contracts): the stacks build each Lambda task's payload from its
event class, so a key the Lambda does not have, or one it needs and the state leaves out, fails synth; a new
event key is one field in its class; each Lambda parses its event with the input schema's bounds."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from lambdas.dataprep.errors import InvalidEventError
from lambdas.lambda_common import contracts
from lambdas.lambda_common.contracts import (
    EVENTS,
    CleanupResult,
    ProfileResult,
    ShardEvent,
    camel,
    from_config,
    given,
)
from lambdas.workflow_input.config import build_config
from stacks import workflow
from stacks.config_paths import UnknownConfigPathError
from stacks.payloads import UnknownEventKeyError, lambda_payload, result_path

SHARD_EVENT = {
    "sourceBucket": "gdelt-open-data", "sourcePrefix": "events/", "year": 1979, "role": "train", "group": 0,
    "eventCodes": ["010", "190"], "seed": 1729, "trainFraction": 0.9, "maxBadRowFraction": 0.01,
    "instanceCount": 5, "bucket": "stack-bucket", "datasetPrefix": "datasets/0123456789abcdef/",
}


def synth_pipeline() -> dict[str, Any]:
    """The pipeline's definition, built alone in a bare stack (with inline stand-in Lambdas): quick to synth."""
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    app = cdk.App()
    stack = cdk.Stack(app, "Contracts", env=cdk.Environment(account="111111111111", region="us-east-1"))

    def function(name: str) -> lambda_.IFunction:
        return lambda_.Function(stack, name, code=lambda_.Code.from_inline("def handler(event, context): pass"),
                                handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_13)

    functions = workflow.PipelineFunctions(**{field.name: function(field.name)
                                              for field in dataclasses.fields(workflow.PipelineFunctions)})
    workflow.Pipeline(stack, "Pipeline", functions=functions, sagemaker_role_arn="arn:aws:iam::111111111111:role/r",
                      image_uri="image", resource_prefix="shardlab", state_machine_name="shardlab-pipeline",
                      shard_concurrency=4)
    template = cdk.assertions.Template.from_stack(stack).to_json()
    (machine,) = [resource for resource in template["Resources"].values()
                  if resource["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return dict(json.loads("".join(part if isinstance(part, str) else "arn" for part in parts)))


def replace_field(event: type[contracts.Event], old: str, new: str) -> type[contracts.Event]:
    """`event` with the field `old` renamed `new` (as if the Lambda's contract said `new`)."""
    def copy(f: dataclasses.Field[Any]) -> Any:  # a new Field: make_dataclass renames the one it is given
        return dataclasses.field(default=f.default, default_factory=f.default_factory, metadata=f.metadata)

    fields = [(new if f.name == old else f.name, f.type, copy(f)) for f in dataclasses.fields(event)]
    namespace = {"handler": event.handler}
    renamed = dataclasses.make_dataclass(event.__name__, fields, bases=(contracts.Event,), frozen=True, kw_only=True,
                                         namespace=namespace)
    return renamed


def test_a_misspelt_event_key_fails_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state spells `eventCodes` one way and the Lambda's class another: synth stops, naming both."""
    monkeypatch.setattr(workflow, "ShardEvent", replace_field(ShardEvent, "event_codes", "event_code"))
    with pytest.raises(UnknownEventKeyError, match=r"ShardEvent has no key 'event_codes'; its keys: .*event_code,"):
        synth_pipeline()


def test_a_misspelt_or_missing_key_in_a_payload_is_refused() -> None:
    paths = {"year": "$$.Map.Item.Value.year", "role": "$$.Map.Item.Value.role"}
    with pytest.raises(UnknownEventKeyError, match="ShardEvent has no key 'event_code'"):
        lambda_payload(ShardEvent, **paths, event_code="$.profile.eventCodes")
    with pytest.raises(UnknownEventKeyError, match=r"ShardEvent needs event_codes= \(its 'eventCodes' key\)"):
        lambda_payload(ShardEvent, **paths)
    with pytest.raises(UnknownEventKeyError, match=r"seed come.* from the run config"):
        lambda_payload(ShardEvent, **paths, event_codes="$.profile.eventCodes", seed=7)
    with pytest.raises(UnknownEventKeyError, match="ProfileResult has no key 'eventcodes'"):
        result_path(ProfileResult, "eventcodes")
    with pytest.raises(UnknownEventKeyError, match=r"CleanupResult has no key 'failure\.Erorr'"):
        result_path(CleanupResult, "failure.Erorr")
    assert result_path(CleanupResult, "failure.Error", at="$.cleanup.report") == "$.cleanup.report.failure.Error"


@dataclass(frozen=True, kw_only=True)
class ShardEventWithTopCodes(ShardEvent):
    """ShardEvent and one more key, as a change to the Lambda's contract would add it."""

    top_event_codes: int = from_config()


def test_a_new_event_key_is_one_field_in_its_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "ShardEvent", ShardEventWithTopCodes)
    selector = synth_pipeline()["States"]["Shard years"]["ItemSelector"]
    # the state sends it, from the run config, with no other change to the stacks
    assert selector["topEventCodes.$"] == "$.config.topEventCodes"
    assert [key.removesuffix(".$") for key in selector] == list(ShardEventWithTopCodes.keys())
    # the Lambda parses it, bounded by the input schema's row for the key
    assert ShardEventWithTopCodes.parse({**SHARD_EVENT, "topEventCodes": 20}).top_event_codes == 20
    with pytest.raises(InvalidEventError, match="topEventCodes must be between 1 and 300, got 301"):
        ShardEventWithTopCodes.parse({**SHARD_EVENT, "topEventCodes": 301}, error=InvalidEventError)


@dataclass(frozen=True, kw_only=True)
class ShardEventWithUnknownConfigKey(ShardEvent):
    top_codes: int = from_config()


def test_a_new_config_field_the_run_config_lacks_fails_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "ShardEvent", ShardEventWithUnknownConfigKey)
    with pytest.raises(UnknownConfigPathError, match=r"\$.config has no key 'topCodes'"):
        synth_pipeline()


def test_every_lambda_task_sends_exactly_its_event_keys() -> None:
    """Each Lambda state's payload, in the real definition, is its class's keys (those with a value)."""
    definition = synth_pipeline()
    states: dict[str, Any] = {}

    def collect(block: dict[str, Any]) -> None:
        for name, state in block["States"].items():
            states[name] = state
            for inner in (state.get("ItemProcessor"), *state.get("Branches", [])):
                if inner:
                    collect(inner)

    collect(definition)
    payloads: dict[str, dict[str, Any]] = {
        name: state.get("Parameters", {}).get("Payload") or {} for name, state in states.items()
    }
    payloads["Shard one year"] = states["Shard years"]["ItemSelector"]
    expected = {
        "Validate input": contracts.ValidateInputEvent, "Check service quotas": contracts.QuotaCheckEvent,
        "Profile base year": contracts.ProfileEvent, "Shard one year": ShardEvent,
        "Finalize dataset": contracts.FinalizeEvent, "Compare endpoints": contracts.CompareEvent,
        "Delete endpoints and models": contracts.CleanupEvent, "Clean up after failure": contracts.CleanupEvent,
        "Compare transform outputs": contracts.CompareEvent,
        "Compare transform outputs at sweep point": contracts.CompareEvent,
        "Report sweep": contracts.SweepReportEvent,
    }
    for name, event in expected.items():
        sent = [key.removesuffix(".$") for key in payloads[name]]
        assert set(sent) <= set(event.keys()) and set(event.required_keys()) <= set(sent), name
    assert {event.__name__ for event in expected.values()} == {event.__name__ for event in EVENTS}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seed", 2**32, "seed must be between 0 and 4294967295"),  # dataprep allowed 2**63 - 1 before
        ("trainFraction", 0, "trainFraction must satisfy 0 < x < 1"),
        ("instanceCount", 0, "instanceCount must be between 1 and 100"),
        ("sourcePrefix", "events", "sourcePrefix must be a key prefix ending in '/'"),
        ("year", 1978, "year: 1978 is not a complete GDELT year"),
        ("group", 1, r"group must be an integer in \[0, 0\] for 1979"),
    ],
)
def test_event_bounds_are_the_input_schemas(key: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        ShardEvent.parse({**SHARD_EVENT, key: value}, error=InvalidEventError)


def test_for_run_is_the_event_the_state_sends_for_a_run_config() -> None:
    config = build_config({"instanceCount": 3}, execution_name="x", start_time="2026-01-01T00:00:00Z",
                          bucket="stack-bucket", resource_prefix="shardlab")
    event = ShardEvent.for_run(config, year=1979, role="train", event_codes=["010"])
    assert event.as_json() == {**{key: config[key] for key in ShardEvent.config_keys()},
                               "year": 1979, "role": "train", "group": 0, "eventCodes": ["010"]}
    assert camel("max_bad_row_fraction") == "maxBadRowFraction"


def test_given_fields_take_their_own_checks() -> None:
    check: Callable[[str, Any], Any] = contracts.one_of("a")

    @dataclass(frozen=True, kw_only=True)
    class Example(contracts.Event):
        handler = "example.handler"
        mode: str = given(check)

    assert Example.parse({"mode": "a"}).mode == "a"
    with pytest.raises(contracts.ContractError, match="mode must be one of 'a', got 'b'"):
        Example.parse({"mode": "b"})
    with pytest.raises(contracts.ContractError, match=r"event \(Example\) is missing 'mode'"):
        Example.parse({})
