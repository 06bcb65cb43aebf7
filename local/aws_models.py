"""STRICT checks of requests and answers against botocore's service models (the models AWS's SDKs ship).

``strict_errors(service, operation, value)``: what is wrong with ``value`` as the operation's OUTPUT, by the rules
TestState's ``mock.fieldValidationMode: STRICT`` applies to a mock: every required member present, every present
member of the modelled type (and enum, and length/range), no member the model does not have.
``input_errors(service, operation, params)``: the same for the operation's INPUT (a request AWS would accept).

Values are taken as Step Functions hands them on (JSON): timestamps may be epoch numbers or ISO strings, and a
``blob`` (Lambda's ``Payload``) may hold any JSON value. An empty list means the value conforms.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape


@functools.cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def _operation(service: str, operation: str) -> Any:
    model = _service_model(service)
    if operation not in model.operation_names:
        raise ValueError(f"{service} has no operation {operation!r} in botocore's model")
    return model.operation_model(operation)


def strict_errors(service: str, operation: str, value: Any) -> list[str]:
    """Why ``value`` is not a valid ``service:operation`` answer under STRICT rules (empty: it is)."""
    shape = _operation(service, operation).output_shape
    if shape is None:
        return [] if value in ({}, None) else [f"{operation} has no output, got {type(value).__name__}"]
    return _errors(shape, value, operation)


def input_errors(service: str, operation: str, params: Any) -> list[str]:
    """Why ``params`` is not a valid ``service:operation`` request (empty: it is)."""
    shape = _operation(service, operation).input_shape
    if shape is None:
        return [] if params in ({}, None) else [f"{operation} takes no input"]
    return _errors(shape, params, operation)


_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (int, float, str),
}


def _errors(shape: Shape, value: Any, path: str) -> list[str]:
    if isinstance(shape, StructureShape):
        return _structure_errors(shape, value, path)
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        errors = _bounds(shape, len(value), path, "items")
        for index, item in enumerate(value):
            errors += _errors(shape.member, item, f"{path}[{index}]")
        return errors
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        errors = []
        for key, item in value.items():
            errors += _errors(shape.key, key, f"{path}.<key {key}>")
            errors += _errors(shape.value, item, f"{path}.{key}")
        return errors
    if shape.type_name == "blob":
        return []  # bytes on the wire; a JSON document inside Step Functions
    expected = _SCALARS.get(shape.type_name)
    if expected is None:
        return []
    if not isinstance(value, expected) or (shape.type_name != "boolean" and isinstance(value, bool)):
        return [f"{path}: expected {shape.type_name}, got {type(value).__name__} {value!r:.60}"]
    errors = []
    if isinstance(value, str):
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            errors.append(f"{path}: {value!r} is not one of {enum}")
        errors += _bounds(shape, len(value), path, "characters")
    elif isinstance(value, int | float) and shape.type_name != "timestamp":
        errors += _range(shape, value, path)
    return errors


def _structure_errors(shape: StructureShape, value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected a structure, got {type(value).__name__}"]
    errors = [f"{path}.{name}: required member missing" for name in shape.required_members if name not in value]
    for name, item in value.items():
        member = shape.members.get(name)
        if member is None:
            errors.append(f"{path}.{name}: not a member of {shape.name}")
        elif item is not None:
            errors += _errors(member, item, f"{path}.{name}")
    return errors


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
