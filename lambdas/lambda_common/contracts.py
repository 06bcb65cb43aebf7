"""The Lambdas' events and results: one typed class each, shared by the Lambdas and the stacks.

An event class is a frozen dataclass whose snake_case fields are the event's camelCase keys. A Lambda parses its
event with `<Event>.parse(event, error=<its error class>)`; the stacks build the task's payload from the same
class (`stacks/payloads.py`), which refuses a missing or unknown key when the app is synthesized. A field is
either `from_config()`, filled by the stacks from `$.config.<its key>` and bounded by the input schema's row for
that key (`lambdas.workflow_input.schema`: one set of bounds), or `given()`, which the state supplies. So a new key that
the run config already has is one `from_config()` field here; any other key is one `given()` field plus the
JSONPath the state passes for it.

A result class is a TypedDict: the Lambda's function returns it (mypy checks the keys) and the stacks read it
through `stacks/payloads.py` `result_path`, which refuses a key the class does not have.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, NotRequired, Self, TypedDict

from lambdas.lambda_common.gdelt_sources import group_count, latest_complete_year
from lambdas.lambda_common.vocabulary import BRANCHES
from lambdas.workflow_input.schema import DERIVED_KEYS, INPUT_KEYS, MAX_EVENT_CODES
from lambdas.workflow_input.validators import InvalidExecutionInputError, ValidationContext

# A field's own check beyond its type: (key, value) -> the value to keep; raises ValueError naming the key.
Check = Callable[[str, Any], Any]
_CONFIG = "shardlab.config"  # field metadata: filled from $.config.<key>
_CHECK = "shardlab.check"  # field metadata: the field's own check


class ContractError(ValueError):
    """An event does not match its contract class (each Lambda raises its own error class instead)."""


def camel(name: str) -> str:
    """The JSON key of a snake_case field: `dataset_prefix` -> `datasetPrefix`."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def from_config(check: Check | None = None, *, default: Any = dataclasses.MISSING) -> Any:
    """A key the stacks fill from `$.config.<key>`: an input key is bounded by the input schema's row for it;
    a derived key (the schema's DERIVED_KEYS) by its type and `check`."""
    return dataclasses.field(default=default, metadata={_CONFIG: True, _CHECK: check})


def given(check: Check | None = None, *, default: Any = dataclasses.MISSING,
          factory: Callable[[], Any] | None = None) -> Any:
    """A key the state supplies itself (`stacks/payloads.py` `lambda_payload(Event, key=<JSONPath or value>)`)."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={_CHECK: check})
    return dataclasses.field(default=default, metadata={_CHECK: check})


def is_from_config(field: dataclasses.Field[Any]) -> bool:
    return bool(field.metadata.get(_CONFIG))


# --- checks a field may name ------------------------------------------------------------------------------


def key_prefix(key: str, value: str) -> str:
    """An S3 key prefix below the bucket's root: ends with '/', does not start with it."""
    if not value.endswith("/") or value.startswith("/"):
        raise ValueError(f"{key} must be a key prefix ending in '/' (not starting with it), got {value!r}")
    return value


def branch_names(key: str, value: dict[str, Any]) -> dict[str, str]:
    """One non-empty name per branch (`{"replicated": ..., "sharded": ...}`)."""
    if set(value) != set(BRANCHES) or not all(isinstance(name, str) and name for name in value.values()):
        shape = "{" + ", ".join(f'"{branch}": name' for branch in BRANCHES) + "}"
        raise ValueError(f"{key} must be {shape}, got {value!r}")
    return {branch: value[branch] for branch in BRANCHES}


def year(key: str, value: int) -> int:
    """A year GDELT has complete event files for: the input schema's year rule (`testYear`'s row)."""
    return int(INPUT_KEYS["testYear"].validate(key, value, _validation_context()))


def one_of(*allowed: str) -> Check:
    def check(key: str, value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value

    return check


def event_codes(key: str, value: list[Any]) -> list[str]:
    """1 to MAX_EVENT_CODES distinct CAMEO digit strings in numeric order (the one-hot column order)."""
    if not 1 <= len(value) <= MAX_EVENT_CODES:
        raise ValueError(f"{key} must be a list of 1 to {MAX_EVENT_CODES} codes, got {value!r}")
    for code in value:
        if not isinstance(code, str) or not code.isascii() or not code.isdigit():
            raise ValueError(f"event codes are CAMEO digit strings such as '010', got {code!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{key} has duplicates: {value}")
    if value != sorted(value, key=lambda code: (int(code), code)):
        raise ValueError(f"{key} must be in numeric order (the one-hot column order): {value}")
    return value


def non_empty_names(key: str, value: dict[str, Any]) -> dict[str, str]:
    if not value or not all(isinstance(name, str) and name for name in value.values()):
        raise ValueError(f"{key} must be an object of non-empty names, got {value!r}")
    return dict(value)


def sweep_concurrency(key: str, value: dict[str, Any]) -> dict[str, Any]:
    """The pre-flight's `report.sweep`: at least `points` and `concurrency`, integers of at least 1."""
    for name in ("points", "concurrency"):
        number = value.get(name)
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError(f"{key}.{name} must be an integer of at least 1, got {number!r}")
    return value


# --- the event base class ---------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# A field's JSON type: what the error says it must be, and the test (an int is not a bool; a number is finite).
_JSON_TYPES: dict[Any, tuple[str, Callable[[object], bool]]] = {
    bool: ("true or false", lambda value: isinstance(value, bool)),
    int: ("an integer", lambda value: isinstance(value, int) and not isinstance(value, bool)),
    float: ("a finite number", _is_number),
    str: ("a string", lambda value: isinstance(value, str)),
    list: ("a list", lambda value: isinstance(value, list)),
    dict: ("an object", lambda value: isinstance(value, dict)),
}


def _check_type(key: str, value: object, annotation: Any) -> Any:
    """The value if it has the field's JSON type; `X | None` also takes null. `object` takes anything."""
    args = typing.get_args(annotation)
    if type(None) in args:
        if value is None:
            return None
        annotation = next(arg for arg in args if arg is not type(None))
    origin = typing.get_origin(annotation) or annotation
    if origin not in _JSON_TYPES:
        return value
    kind, accepts = _JSON_TYPES[origin]
    if not accepts(value):
        raise ValueError(f"{key} must be {kind}, got {value!r}")
    return float(value) if origin is float else value  # type: ignore[arg-type]


@cache
def _validation_context() -> ValidationContext:
    return ValidationContext(latest_year=latest_complete_year())


@dataclass(frozen=True, kw_only=True)
class Event:
    """A Lambda's event. Subclasses are `@dataclass(frozen=True, kw_only=True)` with `from_config`/`given` fields."""

    handler: ClassVar[str]  # the Lambda handler that takes this event (docs/ARCHITECTURE.md, "Lambda handlers")

    @classmethod
    def keys(cls) -> dict[str, str]:
        """`{JSON key: field name}` in field order."""
        return {camel(field.name): field.name for field in dataclasses.fields(cls)}

    @classmethod
    def config_keys(cls) -> list[str]:
        """The JSON keys the stacks fill from `$.config` (same name there)."""
        return [camel(field.name) for field in dataclasses.fields(cls) if field.metadata.get(_CONFIG)]

    @classmethod
    def required_keys(cls) -> list[str]:
        return [camel(field.name) for field in dataclasses.fields(cls)
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]

    @classmethod
    def parse(cls, event: object, *, error: type[Exception] = ContractError) -> Self:
        """The event as this class, or `error` naming the first key that is missing, unknown or out of bounds."""
        name = f"the {cls.handler} event ({cls.__name__})"
        if not isinstance(event, Mapping):
            raise error(f"{name} must be a JSON object, got {type(event).__name__}")
        keys = cls.keys()
        unknown = sorted(set(event) - set(keys))
        if unknown:
            raise error(f"{name} has unknown key(s) {', '.join(map(repr, unknown))}; "
                        f"its keys: {', '.join(keys)}")
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            key = camel(field.name)
            if key not in event:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise error(f"{name} is missing {key!r}")
                continue
            try:
                values[field.name] = _checked(field, key, event[key], hints[field.name])
            except (ValueError, InvalidExecutionInputError) as problem:
                raise error(str(problem)) from None
        instance = cls(**values)
        try:
            instance.check()
        except ValueError as problem:
            raise error(str(problem)) from None
        return instance

    def check(self) -> None:
        """Checks across keys, once each key passed its own (raise ValueError naming them)."""

    @classmethod
    def for_run(cls, config: Mapping[str, Any], **given_values: Any) -> Self:
        """The event the state sends for this run config (`from_config()` keys) and these given ones, parsed."""
        return cls.parse({**{key: config[key] for key in cls.config_keys()},
                          **{camel(name): value for name, value in given_values.items()}})

    def as_json(self) -> dict[str, Any]:
        """The event as its Lambda receives it (optional keys left at None are left out)."""
        return {camel(field.name): getattr(self, field.name) for field in dataclasses.fields(self)
                if getattr(self, field.name) is not None or field.default is dataclasses.MISSING}


def _checked(field: dataclasses.Field[Any], key: str, value: object, annotation: Any) -> Any:
    if field.metadata.get(_CONFIG):
        row = INPUT_KEYS.get(key)
        if row is not None:  # an execution-input key: the schema's own validator and bounds, then the field's
            value = row.validate_config(key, value, _validation_context())
        elif key not in DERIVED_KEYS:
            raise TypeError(f"{key} is from_config() but $.config has no such key")
    value = _check_type(key, value, annotation)
    check = field.metadata.get(_CHECK)
    if check is not None and value is not None:
        value = check(key, value)
    if isinstance(value, str) and not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


# --- the events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ValidateInputEvent(Event):
    """`Validate input`: the execution's input and its identity (the run id hashes name and start time)."""

    handler: ClassVar[str] = "lambdas.workflow_input.handler.handler"
    input: object = given()
    execution_name: str = given()
    execution_start_time: str = given()


@dataclass(frozen=True, kw_only=True)
class QuotaCheckEvent(Event):
    """`Check service quotas`: what the run will ask SageMaker for."""

    handler: ClassVar[str] = "lambdas.preflight.handler.handler"
    instance_count: int = from_config()
    training_instance_type: str = from_config()
    hosting_instance_type: str = from_config()
    use_spot_instances: bool = from_config()
    max_runtime_in_seconds: int = from_config()
    max_wait_time_in_seconds: int = from_config()
    max_cost_usd: float | None = from_config()
    scoring: str = from_config()
    transform_timeout_seconds: int = from_config()
    endpoint_poll_schedule: list[int] = from_config()
    sweep: dict[str, Any] | None = from_config()  # the whole grid is checked: quotas per point, cost summed
    scoring_bound_seconds: int = given()  # the compare Lambda's timeout (stacks/comparison.py)


@dataclass(frozen=True, kw_only=True)
class ProfileEvent(Event):
    """`Profile base year`: the top event codes of one year's first source group, or the cached manifest."""

    handler: ClassVar[str] = "lambdas.dataprep.handler.profile"
    source_bucket: str = from_config()
    source_prefix: str = from_config()
    year: int = given(year)
    top_event_codes: int = from_config()
    bucket: str = from_config()
    dataset_prefix: str = from_config(key_prefix)
    max_bad_row_fraction: float = from_config(default=INPUT_KEYS["maxBadRowFraction"].default)



@dataclass(frozen=True, kw_only=True)
class ShardEvent(Event):
    """`Shard one year`: one source group of one year -> its channel objects (one Map item)."""

    handler: ClassVar[str] = "lambdas.dataprep.handler.shard"
    source_bucket: str = from_config()
    source_prefix: str = from_config()
    year: int = given(year)
    role: str = given(one_of("train", "test"))
    group: int = given(default=0)  # the year's source group: its yearly file, or one month's files
    event_codes: list[str] = given(event_codes)
    seed: int = from_config()
    train_fraction: float = from_config()
    max_bad_row_fraction: float = from_config()
    instance_count: int = from_config()
    bucket: str = from_config()
    dataset_prefix: str = from_config(key_prefix)

    def check(self) -> None:
        if not 0 <= self.group < group_count(self.year):
            raise ValueError(f"group must be an integer in [0, {group_count(self.year) - 1}] for {self.year}, "
                             f"got {self.group!r}")


@dataclass(frozen=True, kw_only=True)
class FinalizeEvent(Event):
    """`Finalize dataset`: the profile and every shard's statistics -> the manifest, written last."""

    handler: ClassVar[str] = "lambdas.dataprep.handler.finalize"
    bucket: str = from_config()
    dataset_prefix: str = from_config(key_prefix)
    profile: dict[str, Any] = given()
    shards: list[Any] = given()
    instance_count: int = from_config()



@dataclass(frozen=True, kw_only=True)
class CompareEvent(Event):
    """`Compare endpoints`: both endpoints, the prepared test and train data, where the report goes."""

    handler: ClassVar[str] = "lambdas.compare.handler.handler"
    training_jobs: dict[str, str] = given(branch_names)
    test_data: str = given()
    train_data: str = given()
    bucket: str = from_config()
    run_prefix: str = from_config(key_prefix)
    run_id: str = from_config()
    parameters: dict[str, Any] = given(factory=dict)
    train_label_mean: float | None = given(default=None)
    # Scoring on endpoints names them; scoring by batch transform (`scoring` `transform`) names each branch's
    # job and output prefix instead.
    endpoints: dict[str, str] | None = given(branch_names, default=None)
    transform_jobs: dict[str, str] | None = given(branch_names, default=None)
    transform_outputs: dict[str, str] | None = given(branch_names, default=None)
    cost_projection: dict[str, Any] | None = given(default=None)  # the pre-flight's worst case
    # A sweep point's id (`p01`..): its report names it and its metrics' RunId is `<runId>/<point>`, so the
    # points of one sweep do not pour their figures into one series.
    point: str | None = given(default=None)



@dataclass(frozen=True, kw_only=True)
class SweepReportEvent(Event):
    """`Report sweep`: every point's compare report (`<point runPrefix>report.json`) -> the sweep's report.json,
    report.md and sweep.png under the run's `runPrefix`, and one recommendation."""

    handler: ClassVar[str] = "lambdas.compare.handler.sweep_report"
    bucket: str = from_config()
    run_prefix: str = from_config(key_prefix)
    run_id: str = from_config()
    sweep: dict[str, Any] = from_config()  # checked by the input schema's sweep row (config_validate)
    # the pre-flight's report.sweep: {points, concurrency, limitedBy, note}
    concurrency: dict[str, Any] = given(sweep_concurrency)
    cost_projection: dict[str, Any] | None = given(default=None)  # the pre-flight's worst case of the whole grid

    def check(self) -> None:
        for point in self.sweep["points"]:
            prefix = point["config"]["runPrefix"]
            if not prefix.startswith(self.run_prefix) or prefix == self.run_prefix:
                raise ValueError(f"sweep point {point['point']}'s runPrefix {prefix!r} is not below the run's "
                                 f"runPrefix {self.run_prefix!r}")


@dataclass(frozen=True, kw_only=True)
class CleanupEvent(Event):
    """`Delete endpoints and models` / `Clean up after failure`: the run's names (with a sweep, every point's
    too: `sweep.points[].config.names`), and the failure if any."""

    handler: ClassVar[str] = "lambdas.cleanup.handler.run_cleanup"
    names: dict[str, str] = from_config(non_empty_names)
    sweep: dict[str, Any] | None = from_config(default=None)
    failure: dict[str, Any] | None = given(default=None)


EVENTS: tuple[type[Event], ...] = (ValidateInputEvent, QuotaCheckEvent, ProfileEvent, ShardEvent, FinalizeEvent,
                                   CompareEvent, SweepReportEvent, CleanupEvent)


# --- the results the stacks read --------------------------------------------------------------------------


class ProfileResult(TypedDict):
    """`lambdas.dataprep.handler.profile` -> the base year's codes (numeric order), or the cached dataset's manifest."""

    cached: bool
    eventCodes: list[str]
    counts: dict[str, int]
    featureDim: int
    manifest: str | None  # the cached dataset's manifest URI (the manifest stays in S3)


class FailureSummary(TypedDict):
    """What `Run failed` fails with: `<Stage>Failed` and `<original error>: <original cause>`."""

    Error: str
    Cause: str


class SweepRecommended(TypedDict):
    """The recommended candidate: a sweep point trained one way."""

    point: str
    distributionType: str
    instanceCount: int
    hyperParameters: dict[str, str]
    cost: float
    testMse: float


class SweepReportResult(TypedDict):
    """`lambdas.compare.handler.sweep_report` -> the sweep's summary (its report stays in S3)."""

    runId: str
    recommendation: str
    recommended: SweepRecommended
    report: dict[str, str]  # json, markdown, chart: s3:// URIs
    points: int
    concurrency: int
    costMeasure: str  # "usd", or "billableInstanceSeconds" when a point's cost could not be priced
    totalUsd: float | None


class CleanupResult(TypedDict):
    """`lambdas.cleanup.handler.run_cleanup` -> what was stopped and deleted (`failure` after a failed stage)."""

    stoppedTrainingJobs: list[str]
    stoppedTransformJobs: list[str]
    deletedEndpoints: list[str]
    deletedEndpointConfigs: list[str]
    deletedModels: list[str]
    stoppedExecutions: list[str]
    deletedLogGroups: list[str]
    deletedLogStreams: list[str]
    pending: list[str]
    failure: NotRequired[FailureSummary]
