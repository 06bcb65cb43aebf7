"""The execution-input schema: `$.config` is what its rows say, every JSONPath into it is checked at synth, and
adding a key is one row (plus the state that uses it)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from lambdas.workflow_input import handler as workflow_input_handler
from lambdas.workflow_input import schema, tables
from lambdas.workflow_input.config import build_config
from lambdas.workflow_input.schema import DEFAULTS, InputKey, Shape, config_shapes
from lambdas.workflow_input.validators import BOOLEAN, InvalidExecutionInputError
from stacks.config import settings_from_context
from stacks.config_paths import CONFIG, UnknownConfigPathError, config_path


def config_for(raw: Any) -> dict[str, Any]:
    return build_config(raw, execution_name="run-1", bucket="the-bucket", resource_prefix="shardlab")


def conforms(value: Any, shape: Shape) -> bool:
    if shape.name.endswith(" or null") and value is None:
        return True
    if shape.kind == "list":
        assert shape.item is not None
        return isinstance(value, list) and all(conforms(item, shape.item) for item in value)
    if shape.kind == "map":
        assert shape.item is not None
        return isinstance(value, dict) and all(conforms(item, shape.item) for item in value.values())
    if shape.kind == "record":
        fields = dict(shape.fields)
        return isinstance(value, dict) and all(key in fields and conforms(item, fields[key])
                                               for key, item in value.items())
    python_type = {"integer": int, "number": float, "string": str, "boolean": bool}[shape.name.removesuffix(" or null")]
    return isinstance(value, python_type) and (python_type is bool or not isinstance(value, bool))


@pytest.mark.parametrize("raw", [{}, {"useSpotInstances": True, "trainYears": [2006], "testYear": 2007,
                                      "hyperParameters": {"epochs": "3"}},
                                 {"sweep": {"instanceCount": [1, 2], "hyperParameters": {"epochs": ["2", "4"],
                                                                                         "mini_batch_size": ["200"]}}}])
def test_the_built_config_is_the_typed_config(raw: dict[str, Any]) -> None:
    config = config_for(raw)
    shapes = config_shapes()
    assert list(config) == list(shapes)  # every key described, in order, and nothing else
    for key, value in config.items():
        assert conforms(value, shapes[key]), (key, value, shapes[key].name)


@pytest.mark.parametrize("path", ["instanceCount", "names.replicated", "names.sharded", "trainYears[0]",
                                  "shardYears[3].layout", "tags[1].Key", "hyperParameters.epochs",
                                  "stoppingCondition.MaxWaitTimeInSeconds", "endpointPollSchedule[0]",
                                  "sweep.points", "sweep.points[0].config.names.sharded",
                                  "sweep.grid.hyperParameters.epochs[0]"])
def test_config_paths_the_config_has(path: str) -> None:
    assert config_path(path) == f"$.config.{path}"


@pytest.mark.parametrize(("path", "named"), [
    ("instanceCont", "'instanceCont'"),
    ("names.replicatd", "'replicatd'"),
    ("names.fullyReplicated", "'fullyReplicated'"),
    ("trainYears.first", "'first'"),
    ("seed[0]", "$.config.seed is integer, not a list"),
    ("shardYears[0].years", "'years'"),
    ("", "no key ''"),
    ("names..sharded", "not a `key.field[0]` path"),
])
def test_a_misspelled_config_path_is_refused_naming_it(path: str, named: str) -> None:
    with pytest.raises(UnknownConfigPathError) as error:
        config_path(path)
    assert named in str(error.value)


def test_synthesis_fails_when_a_state_reads_a_key_the_first_state_does_not_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app import build_app

    build_app(cdk.App())  # the real definition's paths are all known
    # (a new dict: deleting and restoring the item would move it to the end, and the docs' order with it)
    without = {name: row for name, row in schema.DERIVED_KEYS.items() if name != "maxEndpointPolls"}
    monkeypatch.setattr(schema, "DERIVED_KEYS", without)
    with pytest.raises(UnknownConfigPathError, match="no key 'maxEndpointPolls'"):
        build_app(cdk.App())


# --- the "done when": a new key is one row ------------------------------------------------------------

NEW_KEY = InputKey("dropDuplicateRows", False, BOOLEAN, "drop repeated event rows before the split",
                   data_parameter=True)


@pytest.fixture
def new_key(monkeypatch: pytest.MonkeyPatch) -> InputKey:
    """The one edit: a row in workflow_input/schema.py's INPUT_KEYS."""
    monkeypatch.setitem(schema.INPUT_KEYS, NEW_KEY.name, NEW_KEY)
    return NEW_KEY


def test_a_new_input_key_is_one_schema_row(new_key: InputKey) -> None:
    before = config_for({})["datasetPrefix"]
    # default and validation
    assert DEFAULTS[new_key.name] is False
    assert config_for({})[new_key.name] is False and config_for({new_key.name: True})[new_key.name] is True
    with pytest.raises(InvalidExecutionInputError, match="dropDuplicateRows must be true or false"):
        config_for({new_key.name: "yes"})
    # the dataset cache key: a data parameter, so another value prepares another dataset
    assert config_for({new_key.name: True})["datasetPrefix"] != before
    # the typed $.config, so the state that uses it can address it
    assert config_path(new_key.name) == f"{CONFIG}.{new_key.name}"
    # the docs' tables
    assert f"| `{new_key.name}` | `false` | true or false | yes | {new_key.meaning} |" in tables.input_table()
    assert f"| `{new_key.name}` | boolean |" in tables.config_table()
    # deployment overrides: cdk.json context at synth, and the first state's environment
    settings = settings_from_context(cdk.App(context={"shardlab:executionDefaults": {new_key.name: True}}))
    assert settings.defaults[new_key.name] is True


def test_a_new_input_key_reaches_the_first_state_as_a_deployment_default(
    new_key: InputKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHARDLAB_BUCKET", "b")
    monkeypatch.setenv("SHARDLAB_PREFIX", "lab")
    monkeypatch.setenv("SHARDLAB_DEFAULTS", json.dumps({new_key.name: True}))
    event = {"input": {}, "executionName": "exec", "executionStartTime": "2026-01-01T00:00:00.000Z"}
    config = workflow_input_handler.handler(event, None)
    assert config[new_key.name] is True


def test_without_the_row_the_key_is_unknown_everywhere() -> None:
    with pytest.raises(InvalidExecutionInputError, match="unknown execution input key"):
        config_for({NEW_KEY.name: True})
    with pytest.raises(UnknownConfigPathError):
        config_path(NEW_KEY.name)
    with pytest.raises(ValueError, match="executionDefaults has unknown keys: dropDuplicateRows"):
        settings_from_context(cdk.App(context={"shardlab:executionDefaults": {NEW_KEY.name: True}}))


def test_the_stack_writes_no_config_path_by_hand() -> None:
    """Every JSONPath into the config goes through config_path, so none escapes the synth-time check."""
    from stacks.paths import REPO_ROOT

    by_hand = [f"{path.name}:{number}" for path in sorted((REPO_ROOT / "stacks").glob("*.py"))
               if path.name != "config_paths.py"
               for number, line in enumerate(path.read_text().splitlines(), 1) if "$.config" in line]
    assert by_hand == []
