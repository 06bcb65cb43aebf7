"""Deployment settings read from CDK context (defaults documented in cdk.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs import Construct

from stacks.paths import LAMBDA_ROOT, NOTEBOOK_ROOT  # noqa: F401 (the stack's assets; defined in stacks.paths)
from workflow_input.config import check_resource_prefix
from workflow_input.schema import DEFAULTS as EXECUTION_DEFAULTS
from workflow_input.sources import DEFAULT_SOURCE_LOCATIONS, parse_source_location, source_location_covers

CONTEXT_PREFIX = "shardlab:"


@dataclass(frozen=True)
class ShardlabSettings:
    resource_prefix: str = "shardlab"
    notebook: bool = True
    notebook_instance_type: str = "ml.t3.medium"
    notebook_idle_minutes: int = 60
    retain_data: bool = False
    run_data_expiration_days: int = 30
    shard_concurrency: int = 3
    execution_defaults: dict[str, Any] | None = None
    # s3://bucket/prefix/ locations the data-preparation and notebook roles may read (IAM is generated
    # from them; workflow_input refuses a sourceBucket/sourcePrefix outside them).
    source_locations: tuple[str, ...] = tuple(DEFAULT_SOURCE_LOCATIONS)

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


def settings_from_context(scope: Construct) -> ShardlabSettings:
    defaults = ShardlabSettings()
    execution_defaults = _expect("executionDefaults", _context(scope, "executionDefaults", {}), dict)
    unknown = sorted(set(execution_defaults) - set(EXECUTION_DEFAULTS))
    if unknown:
        raise ValueError(f"context {CONTEXT_PREFIX}executionDefaults has unknown keys: {', '.join(unknown)}")
    settings = ShardlabSettings(
        resource_prefix=check_resource_prefix(
            _expect("resourcePrefix", _context(scope, "resourcePrefix", defaults.resource_prefix), str)
        ),
        notebook=_expect("notebook", _context(scope, "notebook", defaults.notebook), bool),
        notebook_instance_type=_expect(
            "notebookInstanceType", _context(scope, "notebookInstanceType", defaults.notebook_instance_type), str
        ),
        notebook_idle_minutes=_expect(
            "notebookIdleMinutes", _context(scope, "notebookIdleMinutes", defaults.notebook_idle_minutes), int
        ),
        retain_data=_expect("retainData", _context(scope, "retainData", defaults.retain_data), bool),
        run_data_expiration_days=_expect(
            "runDataExpirationDays",
            _context(scope, "runDataExpirationDays", defaults.run_data_expiration_days),
            int,
        ),
        shard_concurrency=_expect(
            "shardConcurrency", _context(scope, "shardConcurrency", defaults.shard_concurrency), int
        ),
        execution_defaults=execution_defaults,
        source_locations=_source_locations(scope, defaults.source_locations),
    )
    source = (settings.defaults["sourceBucket"], settings.defaults["sourcePrefix"])
    if not any(source_location_covers(location, *source) for location in settings.source_locations):
        raise ValueError(
            f"context {CONTEXT_PREFIX}executionDefaults source s3://{source[0]}/{source[1]} is not inside any of "
            f"{CONTEXT_PREFIX}sourceLocations {list(settings.source_locations)}"
        )
    if settings.notebook_idle_minutes < 5:
        raise ValueError(f"context {CONTEXT_PREFIX}notebookIdleMinutes must be at least 5")
    if settings.run_data_expiration_days < 1 or settings.shard_concurrency < 1:
        raise ValueError(
            f"context {CONTEXT_PREFIX}runDataExpirationDays and {CONTEXT_PREFIX}shardConcurrency must be >= 1"
        )
    return settings


def _source_locations(scope: Construct, default: tuple[str, ...]) -> tuple[str, ...]:
    key = "sourceLocations"
    locations = _expect(key, _context(scope, key, list(default)), list)
    if not locations:
        raise ValueError(f"context {CONTEXT_PREFIX}{key} must list at least one s3://bucket/prefix/ location")
    for location in locations:
        try:
            parse_source_location(location)
        except ValueError as error:
            raise ValueError(f"context {CONTEXT_PREFIX}{key}: {error}") from error
    return tuple(dict.fromkeys(locations))
