"""The checks an execution-input value must pass; each names the field it refuses (docs/ARCHITECTURE.md).

A `Validator` is one schema row's check (`schema.INPUT_KEYS`): it returns the value to store in `$.config`
and says in `accepts` what it accepts, for the README table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdas.lambda_common.gdelt_sources import FIRST_YEAR as FIRST_YEARLY_FILE

# Every string and object of the input is bounded, so the run's state stays far below Step Functions' 256 KiB
# payload limit for every valid input (tests/test_stack_payload.py computes the worst case).
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]{1,20}\.[a-z0-9]{1,20}$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HYPERPARAMETER_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,255}$")
MAX_HYPERPARAMETERS = 100  # SageMaker's limit on HyperParameters entries
MAX_HYPERPARAMETER_BYTES = 8192  # of the object's JSON: Linear Learner's ~30 settings take well under 1 KiB
MAX_KEY_PREFIX_LENGTH = 1000  # S3 keys are at most 1,024 bytes; the longest file name is 19 more


class InvalidExecutionInputError(ValueError):
    """The execution input cannot start a run; the message names the field."""


@dataclass(frozen=True)
class ValidationContext:
    """What a check may consult besides the value: the run's calendar and the deployment's readable sources."""

    latest_year: int
    source_locations: tuple[str, ...] = ()
    # What the execution input itself gives (not the defaults): its keys and `hyperParameters.<name>` entries.
    given: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Validator:
    check: Callable[[str, Any, ValidationContext], Any]
    accepts: str

    def __call__(self, field: str, value: object, context: ValidationContext) -> Any:
        return self.check(field, value, context)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_in(field: str, value: object, low: int, high: int) -> int:
    if not _is_int(value):
        raise InvalidExecutionInputError(f"{field} must be an integer, got {json.dumps(value)}")
    assert isinstance(value, int)
    if not low <= value <= high:
        raise InvalidExecutionInputError(f"{field} must be between {low} and {high}, got {value}")
    return value


def _year(field: str, value: object, latest: int) -> int:
    if not _is_int(value):
        raise InvalidExecutionInputError(f"{field} must be a year (integer), got {json.dumps(value)}")
    assert isinstance(value, int)
    if not FIRST_YEARLY_FILE <= value <= latest:
        raise InvalidExecutionInputError(
            f"{field}: {value} is not a complete GDELT year; GDELT 1.0 events cover "
            f"{FIRST_YEARLY_FILE}-{latest} (the latest complete year)"
        )
    return value


def integer(low: int, high: int) -> Validator:
    return Validator(lambda field, value, _: _int_in(field, value, low, high), f"integer {low}–{high}")


def one_of(*choices: str) -> Validator:
    def check(field: str, value: object, _: ValidationContext) -> str:
        if value not in choices:
            raise InvalidExecutionInputError(
                f"{field} must be one of {', '.join(map(json.dumps, choices))}, got {json.dumps(value)}"
            )
        return str(value)

    return Validator(check, " or ".join(f"`{json.dumps(choice)}`" for choice in choices))


def _boolean(field: str, value: object, _: ValidationContext) -> bool:
    if not isinstance(value, bool):
        raise InvalidExecutionInputError(f"{field} must be true or false, got {json.dumps(value)}")
    return value


BOOLEAN = Validator(_boolean, "true or false")
YEAR = Validator(lambda field, value, context: _year(field, value, context.latest_year),
                 f"a year, {FIRST_YEARLY_FILE} to the latest complete year")


def _years(field: str, value: object, context: ValidationContext) -> list[int]:
    if not isinstance(value, list) or not value:
        raise InvalidExecutionInputError(f"{field} must be a non-empty list of years, got {json.dumps(value)}")
    years = [_year(f"{field}[{i}]", year, context.latest_year) for i, year in enumerate(value)]
    if len(set(years)) != len(years):
        raise InvalidExecutionInputError(f"{field} must not repeat a year, got {years}")
    return sorted(years)


YEARS = Validator(_years, f"non-empty list of distinct years, {FIRST_YEARLY_FILE} to the latest complete year")


def fraction(*, low_inclusive: bool) -> Validator:
    bounds = "0 <= x < 1" if low_inclusive else "0 < x < 1"

    def check(field: str, value: object, _: ValidationContext) -> float:
        if not _is_number(value):
            raise InvalidExecutionInputError(f"{field} must be a number, got {json.dumps(value)}")
        assert isinstance(value, int | float)
        low_ok = value >= 0 if low_inclusive else value > 0
        if not (low_ok and value < 1):
            raise InvalidExecutionInputError(f"{field} must satisfy {bounds}, got {value}")
        return float(value)

    return Validator(check, f"number, {bounds}")


MAX_COST_USD = 1_000_000.0


def _optional_dollars(field: str, value: object, _: ValidationContext) -> float | None:
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidExecutionInputError(f"{field} must be a number of US dollars or null, got {json.dumps(value)}")
    assert isinstance(value, int | float)
    if not 0 < value <= MAX_COST_USD:
        raise InvalidExecutionInputError(f"{field} must satisfy 0 < x <= {MAX_COST_USD:g} (US dollars), got {value}")
    return float(value)


OPTIONAL_DOLLARS = Validator(_optional_dollars,
                             f"null (no ceiling) or a number of US dollars, 0 < x <= {MAX_COST_USD:g}")


def _instance_type(field: str, value: object, _: ValidationContext) -> str:
    if not isinstance(value, str) or not _INSTANCE_TYPE.match(value):
        raise InvalidExecutionInputError(
            f"{field} must be a SageMaker instance type like 'ml.c5.2xlarge', got {json.dumps(value)}"
        )
    return value


INSTANCE_TYPE = Validator(_instance_type, "SageMaker instance type `ml.<family>.<size>`")


def _hyperparameters(field: str, value: object, _: ValidationContext) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidExecutionInputError(f"{field} must be an object of strings, got {json.dumps(value)}")
    if len(value) > MAX_HYPERPARAMETERS or len(json.dumps(value, separators=(",", ":")).encode()) > (
        MAX_HYPERPARAMETER_BYTES
    ):
        raise InvalidExecutionInputError(
            f"{field} must have at most {MAX_HYPERPARAMETERS} entries and {MAX_HYPERPARAMETER_BYTES} bytes of JSON"
        )
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _HYPERPARAMETER_KEY.match(key):
            raise InvalidExecutionInputError(f"{field}: {json.dumps(key)} is not a hyperparameter name")
        if key == "feature_dim":
            raise InvalidExecutionInputError(
                f"{field}.feature_dim is set by the pipeline from the data (5 + topEventCodes)"
            )
        if not isinstance(item, str) or not 0 < len(item) <= 2500:
            raise InvalidExecutionInputError(
                f"{field}.{key} must be a non-empty string (SageMaker passes strings), got {json.dumps(item)}"
            )
        result[key] = item
    return result


HYPERPARAMETERS = Validator(
    _hyperparameters,
    f"object of non-empty strings (lowercase names, not `feature_dim`; at most {MAX_HYPERPARAMETERS} entries, "
    f"{MAX_HYPERPARAMETER_BYTES:,} bytes of JSON)",
)


def _bucket_name(field: str, value: object, _: ValidationContext) -> str:
    if not isinstance(value, str) or not BUCKET_NAME.match(value):
        raise InvalidExecutionInputError(f"{field} must be an S3 bucket name, got {json.dumps(value)}")
    return value


BUCKET = Validator(_bucket_name, "S3 bucket name")


def _key_prefix(field: str, value: object, _: ValidationContext) -> str:
    if not isinstance(value, str) or (value and not value.endswith("/")) or len(value) > MAX_KEY_PREFIX_LENGTH:
        raise InvalidExecutionInputError(
            f"{field} must be a key prefix ending in '/' (or empty), at most {MAX_KEY_PREFIX_LENGTH} characters, "
            f"got {json.dumps(value)[:100]}"
        )
    return value


KEY_PREFIX = Validator(_key_prefix, f"S3 key prefix ending in `/`, or empty; at most {MAX_KEY_PREFIX_LENGTH:,} "
                       "characters")
