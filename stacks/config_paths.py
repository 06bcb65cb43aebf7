"""JSONPaths into the run config (`$.config`), checked against its typed shape when the app is synthesized.

The shape is workflow_input's (`schema.config_shapes()`: the input rows and the derived keys), so a state that
reads a key the first state does not write fails `cdk synth` naming it, instead of failing a run with
States.Runtime. `[n]` indexes a list, `.field` a record's field or an open object's (hyperParameters) entry.
"""

from __future__ import annotations

import re

from lambdas.workflow_input.schema import Shape, config_shapes

CONFIG = "$.config"
_STEP = re.compile(r"(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class UnknownConfigPathError(ValueError):
    """A JSONPath into `$.config` names something the run config does not have."""


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise UnknownConfigPathError(f"config path {path!r} is not a `key.field[0]` path")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    return steps


def _step_into(shape: Shape, step: str | int, where: str) -> Shape:
    if isinstance(step, int):
        if shape.kind == "list" and shape.item is not None:
            return shape.item
        raise UnknownConfigPathError(f"{where} is {shape.name}, not a list")
    if shape.kind == "map" and shape.item is not None:
        return shape.item
    field = shape.field(step) if shape.kind == "record" else None
    if field is None:
        raise UnknownConfigPathError(f"{where} ({shape.name}) has no field {step!r}")
    return field


def config_path(path: str) -> str:
    """`"$.config.<path>"`, once `path` is known to address the run config (else UnknownConfigPathError)."""
    steps = _steps(path)
    key = steps[0] if steps else ""
    shapes = config_shapes()
    if not isinstance(key, str) or key not in shapes:
        raise UnknownConfigPathError(
            f"{CONFIG} has no key {key!r} (config_path({path!r})); its keys: {', '.join(sorted(shapes))}"
        )
    shape, where = shapes[key], f"{CONFIG}.{key}"
    for step in steps[1:]:
        shape = _step_into(shape, step, where)
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return f"{CONFIG}.{path}"
