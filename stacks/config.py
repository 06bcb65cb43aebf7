"""Deployment settings read from CDK context, one row per `shardlab:` key (cdk.json holds the defaults).

Parsing, validation and README's deploy-settings table (tests/test_doc_tables.py) come from `SETTINGS`;
tests/test_stack_settings.py holds cdk.json's values equal to the rows' defaults.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from lambdas.workflow_input.config import MAX_PREFIX_LENGTH, check_resource_prefix
from lambdas.workflow_input.schema import DEFAULTS as EXECUTION_DEFAULTS
from lambdas.workflow_input.schema import unknown_input_keys
from lambdas.workflow_input.sources import DEFAULT_SOURCE_LOCATIONS, parse_source_location, source_location_covers
from lambdas.workflow_input.tables import cell, markdown_table

CONTEXT_PREFIX = "shardlab:"


@dataclass(frozen=True)
class Setting:
    key: str  # the context key after `shardlab:`
    attribute: str  # its ShardlabSettings field
    default: Any
    kind: type
    meaning: str
    check: Callable[[Any], Any] | None = None  # further rules; returns the value to keep, raises naming the key
    minimum: int | None = None

    @property
    def accepts(self) -> str:
        kind = {bool: "true or false", int: "integer", str: "string", list: "JSON list", dict: "JSON object"}
        return kind[self.kind] + ("" if self.minimum is None else f" ≥ {self.minimum}")


def _execution_defaults(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = unknown_input_keys(overrides)
    if unknown:
        raise ValueError(f"context {CONTEXT_PREFIX}executionDefaults has unknown keys: {', '.join(unknown)}")
    return overrides


def _source_locations(locations: list[Any]) -> tuple[str, ...]:
    key = "sourceLocations"
    if not locations:
        raise ValueError(f"context {CONTEXT_PREFIX}{key} must list at least one s3://bucket/prefix/ location")
    for location in locations:
        try:
            parse_source_location(location)
        except ValueError as error:
            raise ValueError(f"context {CONTEXT_PREFIX}{key}: {error}") from error
    return tuple(dict.fromkeys(locations))


# Row order is parse order (the first error a context gets) and the README table's order.
SETTINGS: dict[str, Setting] = {row.key: row for row in (
    Setting("stackName", "stack_name", "Shardlab", str, "the CloudFormation stack's name"),
    Setting("executionDefaults", "execution_defaults", {}, dict,
            "overrides of the execution-input defaults (keys of the table under \"Run it from the Step Functions "
            "console\"), applied under every execution's input", _execution_defaults),
    Setting("resourcePrefix", "resource_prefix", "shardlab", str,
            "prefix of every name the stack and its runs create: lowercase letters, digits and `-`, at most "
            f"{MAX_PREFIX_LENGTH} characters (SageMaker names are limited to 63)", check_resource_prefix),
    Setting("notebook", "notebook", True, bool, "create the SageMaker notebook instance (where the region has it)"),
    Setting("notebookInstanceType", "notebook_instance_type", "ml.t3.medium", str, "the notebook instance's type"),
    Setting("notebookIdleMinutes", "notebook_idle_minutes", 60, int,
            "the notebook instance stops itself after this many idle minutes", minimum=5),
    Setting("retainData", "retain_data", False, bool,
            "keep the bucket and its data on `cdk destroy` (otherwise it is emptied and deleted)"),
    Setting("runDataExpirationDays", "run_data_expiration_days", 30, int,
            "run data under `runs/` expires after this many days (prepared datasets do not)", minimum=1),
    Setting("shardConcurrency", "shard_concurrency", 3, int,
            "source groups the \"Shard years\" Map prepares at once", minimum=1),
    Setting("sourceLocations", "source_locations", list(DEFAULT_SOURCE_LOCATIONS), list,
            "the `s3://bucket/prefix/` locations the data-preparation and notebook roles may read (IAM is "
            "generated from them); the first state refuses a `sourceBucket`/`sourcePrefix` outside them",
            _source_locations),
)}


def _default(key: str) -> Any:
    return SETTINGS[key].default


@dataclass(frozen=True)
class ShardlabSettings:
    stack_name: str = _default("stackName")
    resource_prefix: str = _default("resourcePrefix")
    notebook: bool = _default("notebook")
    notebook_instance_type: str = _default("notebookInstanceType")
    notebook_idle_minutes: int = _default("notebookIdleMinutes")
    retain_data: bool = _default("retainData")
    run_data_expiration_days: int = _default("runDataExpirationDays")
    shard_concurrency: int = _default("shardConcurrency")
    execution_defaults: dict[str, Any] | None = None
    source_locations: tuple[str, ...] = tuple(_default("sourceLocations"))

    @property
    def defaults(self) -> dict[str, Any]:
        return {**EXECUTION_DEFAULTS, **(self.execution_defaults or {})}

    @property
    def metrics_namespace(self) -> str:
        return f"Shardlab/{self.resource_prefix}"


def _context(scope: Construct, key: str, default: Any) -> Any:
    value = scope.node.try_get_context(CONTEXT_PREFIX + key)
    if value is None:
        return default
    # `cdk -c key=value` passes strings; accept JSON literals for booleans and numbers there.
    if isinstance(value, str) and not isinstance(default, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"context {CONTEXT_PREFIX}{key}={value!r} is not valid JSON") from error
    return value


def _expect(key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"context {CONTEXT_PREFIX}{key} must be {kind.__name__}, got {value!r}")
    return value


def _check_minimums(values: dict[str, Any]) -> None:
    for row in SETTINGS.values():
        if row.minimum is not None and values[row.attribute] < row.minimum:
            raise ValueError(f"context {CONTEXT_PREFIX}{row.key} must be at least {row.minimum}")


def settings_from_context(scope: Construct) -> ShardlabSettings:
    values: dict[str, Any] = {}
    for row in SETTINGS.values():
        value = _expect(row.key, _context(scope, row.key, copy.deepcopy(row.default)), row.kind)
        values[row.attribute] = row.check(value) if row.check else value
    settings = ShardlabSettings(**values)
    source = (settings.defaults["sourceBucket"], settings.defaults["sourcePrefix"])
    if not any(source_location_covers(location, *source) for location in settings.source_locations):
        raise ValueError(
            f"context {CONTEXT_PREFIX}executionDefaults source s3://{source[0]}/{source[1]} is not inside any of "
            f"{CONTEXT_PREFIX}sourceLocations {list(settings.source_locations)}"
        )
    _check_minimums(values)
    return settings


def settings_table() -> str:
    """README's deploy-settings table."""
    return markdown_table(("context key", "default", "accepted", "meaning"),
                          [(f"`{CONTEXT_PREFIX}{row.key}`", cell(row.default), row.accepts, row.meaning)
                           for row in SETTINGS.values()])
