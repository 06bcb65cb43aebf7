"""Each Lambda task's payload built from its event class (`lambdas.lambda_common.contracts`), checked at synth.

`lambda_payload(ShardEvent, year=..., ...)` gives every `from_config()` key as its path into the run config
(checked by `config_path`) and every `given()` key as passed; a given key that is missing, or a keyword the
class does not have, fails `cdk synth` naming it. `result_path(ProfileResult, "eventCodes")` is a JSONPath
into a Lambda's result, refused if its TypedDict has no such key. So the keys the state machine writes and
reads are the ones the Lambdas parse and return.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, NotRequired, Required

from aws_cdk import aws_stepfunctions as sfn

from lambdas.lambda_common.contracts import Event, camel, is_from_config
from stacks.config_paths import config_path

J = sfn.JsonPath


class UnknownEventKeyError(TypeError):
    """A payload names a key its event class does not have, or leaves out one it requires."""


def lambda_payload(event: type[Event], **given: Any) -> dict[str, Any]:
    """`{JSON key: JSONPath or value}` for `event`'s Lambda, in the class's field order."""
    fields = {field.name: field for field in dataclasses.fields(event)}
    from_config = {name for name, field in fields.items() if is_from_config(field)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise UnknownEventKeyError(
            f"{event.__name__} has no key {', '.join(map(repr, unknown))}; its keys: {', '.join(fields)}"
        )
    filled = sorted(set(given) & from_config)
    if filled:
        raise UnknownEventKeyError(f"{event.__name__}: {', '.join(filled)} come(s) from the run config, not the state")
    payload: dict[str, Any] = {}
    for name, field in fields.items():
        key = camel(name)
        if name in from_config:
            # One accessor for every type: the state JSON is `"<key>.$": "<path>"` whatever the value's type.
            payload[key] = J.string_at(config_path(key))
        elif name in given:
            payload[key] = given[name]
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise UnknownEventKeyError(f"{event.__name__} needs {name}= (its {key!r} key)")
    return payload


def result_path(result: type, path: str, *, at: str = "$.Payload") -> str:
    """`at` + `.path`, once each step of `path` is a key of the TypedDict `result` (nested TypedDicts too)."""
    shape: Any = result
    for step in path.split("."):
        hints = typing.get_type_hints(shape) if typing.is_typeddict(shape) else {}
        if step not in hints:
            raise UnknownEventKeyError(f"{result.__name__} has no key {path!r} (at {step!r}): "
                                       f"its keys: {', '.join(hints) or '(not an object)'}")
        shape = hints[step]
        while typing.get_origin(shape) in (NotRequired, Required):
            shape = typing.get_args(shape)[0]
    return f"{at}.{path}"
