"""Request validation of the local SageMaker, against botocore's ``sagemaker`` service model.

Unknown members, missing required members and wrong types (botocore's ``ParamValidator``), then the
constraints AWS enforces server-side that botocore does not (string length, ``pattern``, enum values, numeric
ranges, list/map sizes). Failures are a ``ValidationException`` worded like AWS's ("1 validation error detected:
Value 'x' at 'trainingJobName' failed to satisfy constraint: ...").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

from local.errors import SageMakerApiError


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _aws_path(botocore_name: str) -> str:
    """``InputDataConfig[0].ChannelName`` → ``inputDataConfig.1.member.channelName`` (AWS's spelling)."""
    path = re.sub(r"\[(\d+)\]", lambda m: f".{int(m.group(1)) + 1}.member", botocore_name)
    return ".".join(lower_first(part) for part in path.split("."))


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


@functools.cache
def sagemaker_service_model() -> ServiceModel:
    """botocore's SageMaker model (loading it takes a noticeable fraction of a second, so once)."""
    return botocore.session.get_session().get_service_model("sagemaker")


class RequestValidator:
    """Validates requests the way the SageMaker front end does (see the module docstring)."""

    def __init__(self) -> None:
        self.service_model = sagemaker_service_model()
        self._param_validator = ParamValidator()

    def operation_model(self, operation: str) -> OperationModel:
        return self.service_model.operation_model(operation)

    def validate(self, operation: str, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise SageMakerApiError("SerializationException", "The request body must be a JSON object")
        shape = self.operation_model(operation).input_shape
        errors: list[str] = []
        report = self._param_validator.validate(dict(params), shape)
        for kind, raw_name, details in report._errors:  # the structured errors behind generate_report()
            name = raw_name.lstrip(".")
            path = _aws_path(name) if name else lower_first(shape.name)
            if kind == "missing required field":
                member = details["required_name"]
                errors.append(
                    f"Value null at '{_aws_path(f'{name}.{member}' if name else member)}' failed to satisfy "
                    "constraint: Member must not be null"
                )
            elif kind == "unknown field":
                errors.append(
                    f"Member '{details['unknown_param']}' at '{path}' is not a known member; valid members: "
                    + ", ".join(details["valid_names"])
                )
            elif kind == "invalid type":
                errors.append(
                    f"Value '{_shown(details['param'])}' at '{path}' failed to satisfy constraint: Member must be "
                    f"of type {self._type_name(details['valid_types'])}"
                )
            elif kind in ("invalid range", "invalid length"):
                what = "value" if kind == "invalid range" else "length"
                errors.append(
                    f"Value '{_shown(details['param'])}' at '{path}' failed to satisfy constraint: Member must have "
                    f"{what} greater than or equal to {details['min_allowed']}"
                )
            else:
                errors.append(f"Value at '{path}' failed to satisfy constraint: {kind}")
        if not errors:
            self._constraints(params, shape, "", errors)
        if errors:
            count = len(errors)
            raise SageMakerApiError(
                "ValidationException",
                f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors),
            )

    @staticmethod
    def _type_name(valid_types: list[str]) -> str:
        text = " ".join(valid_types)
        for word in ("datetime", "bool", "float", "int", "str", "dict", "list"):
            if word in text:
                return {
                    "int": "integer",
                    "float": "number",
                    "bool": "boolean",
                    "str": "string",
                    "dict": "structure",
                    "list": "list",
                    "datetime": "timestamp",
                }[word]
        return text

    def _constraints(self, value: Any, shape: Shape, path: str, errors: list[str]) -> None:  # noqa: C901, PLR0912 -- one branch per botocore shape type and constraint
        meta = shape.metadata
        where = path or lower_first(shape.name)
        if shape.type_name == "structure":
            for name, member in shape.members.items():
                if name in value and value[name] is not None:
                    child = f"{path}.{lower_first(name)}" if path else lower_first(name)
                    self._constraints(value[name], member, child, errors)
            return
        if shape.type_name == "list":
            self._size(len(value), meta, value, where, errors)
            for index, item in enumerate(value):
                self._constraints(item, shape.member, f"{where}.{index + 1}.member", errors)
            return
        if shape.type_name == "map":
            self._size(len(value), meta, value, where, errors)
            for key, item in value.items():
                self._constraints(key, shape.key, f"{where}.key", errors)
                self._constraints(item, shape.value, f"{where}.{key}", errors)
            return
        if shape.type_name == "string":
            self._size(len(value), meta, value, where, errors)
            pattern = meta.get("pattern")
            if pattern is not None:
                try:
                    matched = re.fullmatch(pattern, value, flags=re.DOTALL) is not None
                except re.error:
                    matched = True  # a Java-only construct; AWS checks it, we cannot
                if not matched:
                    errors.append(
                        f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must satisfy "
                        f"regular expression pattern: {pattern}"
                    )
            if shape.enum and value not in shape.enum:
                errors.append(
                    f"Value '{_shown(value)}' at '{where}' failed to satisfy constraint: Member must satisfy enum "
                    f"value set: [{', '.join(shape.enum)}]"
                )
            return
        if shape.type_name in ("integer", "long", "float", "double"):
            errors.extend(_bounds("value", value, meta, value, where))

    @staticmethod
    def _size(size: int, meta: Mapping[str, Any], value: Any, where: str, errors: list[str]) -> None:
        errors.extend(_bounds("length", size, meta, value, where))


def _bounds(what: str, measured: float, meta: Mapping[str, Any], value: Any, where: str) -> list[str]:
    """The model's ``min``/``max`` of a number's value or a string's/list's/map's length, as AWS words them."""
    broken = []
    if "min" in meta and measured < meta["min"]:
        broken.append(("greater", meta["min"]))
    if "max" in meta and measured > meta["max"]:
        broken.append(("less", meta["max"]))
    if not broken:
        return []  # the common case: no repr of the value (requests are validated on every call)
    shown = f"{value}" if what == "value" else _shown(value)
    return [
        f"Value '{shown}' at '{where}' failed to satisfy constraint: Member must have {what} {relation} than or "
        f"equal to {limit}"
        for relation, limit in broken
    ]


def validation_error(message: str) -> SageMakerApiError:
    return SageMakerApiError("ValidationException", message)


def null_member(member: str) -> SageMakerApiError:
    return validation_error(
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    )
