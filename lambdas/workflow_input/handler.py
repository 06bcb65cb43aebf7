"""First state of the pipeline: `{"input", "executionName", "executionStartTime"}` -> run config."""

from __future__ import annotations

import json
import os
from typing import Any

from lambdas.lambda_common.contracts import ValidateInputEvent
from lambdas.workflow_input.config import build_config
from lambdas.workflow_input.schema import DEFAULTS, unknown_input_keys
from lambdas.workflow_input.sources import DEFAULT_SOURCE_LOCATIONS
from lambdas.workflow_input.validators import InvalidExecutionInputError


def defaults_from_environment() -> dict[str, Any]:
    """Deployment defaults from cdk.json context (SHARDLAB_DEFAULTS), over the built-in ones."""
    raw = os.environ.get("SHARDLAB_DEFAULTS")
    overrides = json.loads(raw) if raw else {}
    unknown = unknown_input_keys(overrides)
    if unknown:
        raise ValueError(f"SHARDLAB_DEFAULTS has unknown keys: {', '.join(unknown)}")
    return {**DEFAULTS, **overrides}


def source_locations_from_environment() -> list[str]:
    """What the stack lets the data-preparation roles read (SHARDLAB_SOURCE_LOCATIONS, from cdk.json)."""
    raw = os.environ.get("SHARDLAB_SOURCE_LOCATIONS")
    return list(json.loads(raw)) if raw else list(DEFAULT_SOURCE_LOCATIONS)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = ValidateInputEvent.parse(event, error=InvalidExecutionInputError)
    return build_config(
        request.input,
        execution_name=request.execution_name,
        start_time=request.execution_start_time,
        bucket=os.environ["SHARDLAB_BUCKET"],
        resource_prefix=os.environ["SHARDLAB_PREFIX"],
        defaults=defaults_from_environment(),
        source_locations=source_locations_from_environment(),
    )
