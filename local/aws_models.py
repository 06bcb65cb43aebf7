"""AWS's own API models as the judge: is a value one an operation could send or answer, by botocore's models?

``strict_errors(service, operation, value)`` checks an *answer* against the operation's output shape by the
rules Step Functions' TestState applies to a mock with ``fieldValidationMode: STRICT``: required members
present, every value of its member's type (and in its enum), no member the model does not know, recursively
through structures, lists and maps. Timestamps are accepted as ``datetime`` or as botocore parses them off the
wire (epoch seconds, ISO 8601 text) or as Step Functions hands them to a state machine
(epoch milliseconds); blobs as bytes (or the base64 text of the JSON protocols). botocore's own
``ResponseMetadata`` at the top level is not part of the model and is ignored.

``input_errors(service, operation, params)`` checks a *request* the same way against the input shape.

Both return a list of messages, each naming the path that is wrong (empty when the value is valid).
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.utils import parse_timestamp

_INTEGERS = ("integer", "long")
_FLOATS = ("float", "double")


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def strict_errors(service: str, operation: str, value: Any) -> list[str]:
    """What is wrong with ``value`` as ``operation``'s answer (module docstring); [] when AWS could give it."""
    shape = operation_model(service, operation).output_shape
    return _top_level_errors(shape, value, f"{operation} output")


def input_errors(service: str, operation: str, params: Any) -> list[str]:
    """What is wrong with ``params`` as an ``operation`` request; [] when the model accepts it."""
    shape = operation_model(service, operation).input_shape
    return _top_level_errors(shape, params, f"{operation} input")


def _top_level_errors(shape: Shape | None, value: Any, what: str) -> list[str]:
    if isinstance(value, Mapping) and "ResponseMetadata" in value:
        value = {key: item for key, item in value.items() if key != "ResponseMetadata"}
    if shape is None:  # the operation has no members (e.g. StopTrainingJob's answer)
        return [] if value in ({}, None) else [f"{what}: the model has no members, got {sorted(value)}"]
    return shape_errors(shape, value, "$")


def shape_errors(shape: Shape, value: Any, path: str) -> list[str]:
    """STRICT's rules for one value of ``shape`` at ``path`` (``$.Member[0].Key``)."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        return _structure_errors(shape, value, path)
    if kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list | tuple):
            return [f"{path}: expected a list ({shape.name}), got {type(value).__name__}"]
        return _bounds(shape, len(value), path, "items") + [
            error for i, item in enumerate(value) for error in shape_errors(shape.member, item, f"{path}[{i}]")
        ]
    if kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, Mapping):
            return [f"{path}: expected a map ({shape.name}), got {type(value).__name__}"]
        errors: list[str] = []
        for key, item in value.items():
            errors += shape_errors(shape.key, key, f"{path}.<key {key!r}>")
            errors += shape_errors(shape.value, item, f"{path}.{key}")
        return errors
    return _scalar_errors(shape, value, path)


def _structure_errors(shape: StructureShape, value: Any, path: str) -> list[str]:
    if shape.metadata.get("document"):
        return []
    if not isinstance(value, Mapping):
        return [f"{path}: expected a structure ({shape.name}), got {type(value).__name__}"]
    members = shape.members
    errors = [
        f"{path}.{name}: unknown member of {shape.name} (members: {', '.join(members)})"
        for name in value
        if name not in members
    ]
    errors += [
        f"{path}.{name}: required member of {shape.name} is missing"
        for name in shape.required_members
        if value.get(name) is None
    ]
    if shape.metadata.get("union") and len([name for name in value if value[name] is not None]) > 1:
        errors.append(f"{path}: {shape.name} is a union; exactly one member may be set, got {sorted(value)}")
    for name, item in value.items():
        if name in members and item is not None:
            errors += shape_errors(members[name], item, f"{path}.{name}")
    return errors


def _scalar_errors(shape: Shape, value: Any, path: str) -> list[str]:  # noqa: PLR0911 -- one return per botocore type
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string ({shape.name}), got {type(value).__name__}"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not one of {shape.name}'s values {shape.enum}"]
        return _bounds(shape, len(value), path, "characters")
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {type(value).__name__}"]
    if kind in _INTEGERS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return _range(shape, value, path) if ok else [f"{path}: expected an integer ({shape.name}), got {value!r}"]
    if kind in _FLOATS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return _range(shape, value, path) if ok else [f"{path}: expected a number ({shape.name}), got {value!r}"]
    if kind == "timestamp":
        return [] if _is_timestamp(value) else [f"{path}: expected a timestamp, got {value!r}"]
    if kind == "blob":
        # bytes on the wire; inside Step Functions a Lambda's Payload is the JSON document itself
        ok = isinstance(value, bytes | bytearray | str | Mapping | list) or hasattr(value, "read")
        return [] if ok else [f"{path}: expected a blob, got {type(value).__name__}"]
    return [f"{path}: shape type {kind} is not known to this validator"]


def _is_timestamp(value: Any) -> bool:
    if isinstance(value, datetime.datetime):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        # epoch seconds (the JSON protocols) or epoch milliseconds (what Step Functions hands a state machine)
        return math.isfinite(value) and value >= 0
    if isinstance(value, str):
        try:
            parse_timestamp(value)
        except (ValueError, TypeError, OverflowError):
            return False
        return True
    return False


def _bounds(shape: Shape, size: int, path: str, unit: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        return [f"{path}: {size} {unit}, at least {low} required"]
    if high is not None and size > high:
        return [f"{path}: {size} {unit}, at most {high} allowed"]
    return []


def _range(shape: Shape, number: float, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and number < low:
        return [f"{path}: {number} is below the minimum {low}"]
    if high is not None and number > high:
        return [f"{path}: {number} is above the maximum {high}"]
    return []
