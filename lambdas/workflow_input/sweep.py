"""The execution input `sweep`: a grid over `instanceCount` and the hyperparameters `epochs` and
`mini_batch_size`, and the run config's `sweep` it expands to (docs/ARCHITECTURE.md "Execution config").

Every point of the grid shares one prepared dataset: its shard plan has P = lcm(sweep.instanceCount) train
objects per source group, so every point's instance count divides P and each ShardedByS3Key host of every point
reads exactly P/n objects of every group. The config's `instanceCount` is P (the data-parameter hash uses it, so a
plain run with `instanceCount` P shares the sweep's dataset); each point overrides it with its own count.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdas.lambda_common.vocabulary import SWEPT_HYPERPARAMETERS
from lambdas.workflow_input.validators import (
    HYPERPARAMETERS,
    InvalidExecutionInputError,
    ValidationContext,
    Validator,
)

MAX_SWEEP_POINTS = 24
SWEEP_KEYS = ("instanceCount", "hyperParameters")
# Linear Learner takes both as positive integers; a sweep's values are bounded so every point's payload stays small.
MAX_SWEPT_VALUE_DIGITS = 6
_SWEPT_VALUE = re.compile(rf"^[1-9][0-9]{{0,{MAX_SWEPT_VALUE_DIGITS - 1}}}$")
_POINT_ID = re.compile(r"^p[0-9]{2}$")
FIELD = "sweep"


def _fail(message: str) -> InvalidExecutionInputError:
    return InvalidExecutionInputError(message)


def _non_empty_list(field: str, value: object) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(f"{field} must be a non-empty list, got {json.dumps(value)}")
    return value


def _no_duplicates(field: str, values: list[Any]) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise _fail(f"{field} lists {json.dumps(value)} twice; each value of a sweep list must be distinct")
        seen.add(value)


def _counts(field: str, value: object, instance_count: Validator, context: ValidationContext) -> list[int]:
    counts = [int(instance_count(f"{field}[{i}]", item, context))
              for i, item in enumerate(_non_empty_list(field, value))]
    _no_duplicates(field, counts)
    return counts


def _swept_values(field: str, value: object, context: ValidationContext) -> list[str]:
    name = field.rsplit(".", 1)[-1]
    values: list[str] = []
    for i, item in enumerate(_non_empty_list(field, value)):
        where = f"{field}[{i}]"
        # The single run's hyperparameter check first (a non-empty string), then Linear Learner's: a positive integer.
        try:
            HYPERPARAMETERS(field.rsplit(".", 1)[0], {name: item}, context)
        except InvalidExecutionInputError as error:  # named at the list item
            raise _fail(str(error).replace(field, where, 1)) from None
        if not _SWEPT_VALUE.match(item):
            raise _fail(f"{where} must be a positive integer as a string without leading zeros, at most "
                        f"{MAX_SWEPT_VALUE_DIGITS} digits (Linear Learner's {name}), got {json.dumps(item)}")
        values.append(item)
    _no_duplicates(field, values)
    return values


def _object(field: str, value: object, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{field} must be an object with at least one of {', '.join(allowed)}, got {json.dumps(value)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise _fail(f"{field} has unknown key(s) {', '.join(f'{field}.{key}' for key in unknown)}; "
                    f"allowed: {', '.join(allowed)}")
    if not value:
        raise _fail(f"{field} must give at least one of {', '.join(allowed)} as a list, got {{}}")
    return value


def shard_plan(grid: Mapping[str, Any], instance_count: int) -> int:
    """P: the prepared dataset's train objects per source group, lcm of the swept counts (else the run's count)."""
    counts = grid.get("instanceCount")
    return math.lcm(*counts) if counts else instance_count


def point_count(grid: Mapping[str, Any]) -> int:
    return math.prod(len(values) for values in _axes(grid).values())


def _axes(grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    if "instanceCount" in grid:
        axes["instanceCount"] = list(grid["instanceCount"])
    for name in SWEPT_HYPERPARAMETERS:
        if name in grid.get("hyperParameters", {}):
            axes[f"hyperParameters.{name}"] = list(grid["hyperParameters"][name])
    return axes


def grid_validator(instance_count: Validator, max_instances: int) -> Validator:
    """The input row's check: returns the grid as given (its lists checked), or None without a sweep."""

    def check(field: str, value: object, context: ValidationContext) -> dict[str, Any] | None:
        if value is None:
            return None
        raw = _object(field, value, SWEEP_KEYS)
        grid: dict[str, Any] = {}
        if "instanceCount" in raw:
            grid["instanceCount"] = _counts(f"{field}.instanceCount", raw["instanceCount"], instance_count, context)
        if "hyperParameters" in raw:
            where = f"{field}.hyperParameters"
            swept = _object(where, raw["hyperParameters"], SWEPT_HYPERPARAMETERS)
            grid["hyperParameters"] = {name: _swept_values(f"{where}.{name}", swept[name], context)
                                       for name in SWEPT_HYPERPARAMETERS if name in swept}
        points = point_count(grid)
        if points > MAX_SWEEP_POINTS:
            sizes = " x ".join(f"{len(values)} {axis}" for axis, values in _axes(grid).items())
            raise _fail(f"{field} has {points} points ({sizes}); a sweep runs at most {MAX_SWEEP_POINTS}")
        if "instanceCount" in grid and shard_plan(grid, 0) > max_instances:
            raise _fail(
                f"{field}.instanceCount {grid['instanceCount']} cannot share one dataset: its shard plan would be "
                f"lcm = {shard_plan(grid, 0)} train objects per source group (every count must divide it), above "
                f"the limit of {max_instances}; choose counts whose lcm is at most {max_instances} (e.g. 1, 2, 5, 10)"
            )
        return grid

    return Validator(check, f"null, or an object of non-empty lists of distinct values: `instanceCount` (integers) "
                            f"and/or `hyperParameters` {{`epochs`, `mini_batch_size`}} (positive integers as "
                            f"strings); at most {MAX_SWEEP_POINTS} points and lcm(instanceCount) at most "
                            f"{max_instances}")


# --- the run config's sweep ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    point: str
    instance_count: int
    hyperparameters: dict[str, str]


def points(grid: Mapping[str, Any], instance_count: int) -> list[Point]:
    """The grid's points in `itertools.product` order (instanceCount, then epochs, then mini_batch_size),
    `p01`...; `instance_count` is the run's own count, used where the grid does not sweep it."""
    counts = grid.get("instanceCount") or [instance_count]
    swept = grid.get("hyperParameters", {})
    names = [name for name in SWEPT_HYPERPARAMETERS if name in swept]
    result = []
    for number, (count, *values) in enumerate(itertools.product(counts, *(swept[name] for name in names)), 1):
        result.append(Point(f"p{number:02d}", count, dict(zip(names, values, strict=True))))
    return result


def expand(grid: Mapping[str, Any], *, instance_count: int,
           point_config: Callable[[Point], dict[str, Any]]) -> dict[str, Any]:
    """`config.sweep`: the grid and every point with the config keys it overrides (`point_config`)."""
    return {
        "grid": dict(grid),
        "points": [{"point": p.point, "instanceCount": p.instance_count, "hyperParameters": p.hyperparameters,
                    "config": point_config(p)} for p in points(grid, instance_count)],
    }


def config_validator(grid: Validator, instance_count: Validator, branches: tuple[str, ...]) -> Validator:
    """The check of `$.config.sweep` (what events `from_config()` receive): the expanded grid, or null."""

    def check(field: str, value: object, context: ValidationContext) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) != {"grid", "points"}:
            raise _fail(f"{field} must be null or the run config's {{grid, points}}, got {json.dumps(value)[:200]}")
        grid(f"{field}.grid", value["grid"], context)
        listed = value["points"]
        if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_SWEEP_POINTS:
            raise _fail(f"{field}.points must be a list of 1 to {MAX_SWEEP_POINTS} points")
        seen: set[str] = set()
        for i, point in enumerate(listed):
            _check_point(f"{field}.points[{i}]", point, instance_count, branches, context)
            if point["point"] in seen:
                raise _fail(f"{field}.points[{i}]: point id {point['point']!r} is given twice")
            seen.add(point["point"])
        return value

    return Validator(check, "null or the expanded sweep")


def _check_point(field: str, point: object, instance_count: Validator, branches: tuple[str, ...],
                 context: ValidationContext) -> None:
    keys = {"point", "instanceCount", "hyperParameters", "config"}
    if not isinstance(point, dict) or set(point) != keys or not isinstance(point["config"], dict):
        raise _fail(f"{field} must be an object {{{', '.join(sorted(keys))}}}")
    if not isinstance(point["point"], str) or not _POINT_ID.match(point["point"]):
        raise _fail(f"{field}.point must be a point id like 'p01', got {json.dumps(point['point'])}")
    instance_count(f"{field}.instanceCount", point["instanceCount"], context)
    swept = point["hyperParameters"]
    if not isinstance(swept, dict) or not set(swept) <= set(SWEPT_HYPERPARAMETERS) or not all(
            isinstance(item, str) and _SWEPT_VALUE.match(item) for item in swept.values()):
        raise _fail(f"{field}.hyperParameters must map {' and/or '.join(SWEPT_HYPERPARAMETERS)} to a sweep value")
    config = point["config"]
    names = config.get("names")
    if (set(config) != {"instanceCount", "names", "runPrefix"} or config["instanceCount"] != point["instanceCount"]
            or not isinstance(names, dict) or set(names) != set(branches)
            or not all(isinstance(name, str) and name for name in names.values())
            or not isinstance(config["runPrefix"], str) or not config["runPrefix"].endswith("/")
            or config["runPrefix"].startswith("/")):
        raise _fail(f"{field}.config must be {{instanceCount, names: {{{', '.join(branches)}}}, runPrefix}}")
