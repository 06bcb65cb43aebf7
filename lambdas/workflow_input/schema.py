"""The execution input, one row per key, and the shape of the run config at `$.config` (docs/ARCHITECTURE.md).

A row holds everything about its key: default, validator, whether it is a *data parameter* (it changes the
prepared dataset, so it is part of the dataset cache key) and its meaning. Defaults, the unknown-key check,
validation, the cache key, the README/ARCHITECTURE tables (`python -m lambdas.workflow_input.tables`) and the JSONPaths
the stack may write (`stacks/config_paths.py`) all read the rows, so adding a key is one row in `INPUT_KEYS`
plus the state that uses it (tests/test_input_schema.py adds one). Checks that span keys are `CROSS_CHECKS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lambdas.lambda_common.gdelt_sources import group_count, latest_complete_year
from lambdas.lambda_common.vocabulary import BRANCHES, RUN_TAG, STACK_TAG
from lambdas.workflow_input import sweep as sw
from lambdas.workflow_input import validators as v
from lambdas.workflow_input.sources import DEFAULT_SOURCE_LOCATIONS, check_source_readable
from lambdas.workflow_input.validators import InvalidExecutionInputError, ValidationContext

# FIRST_YEARLY_FILE to latest_complete_year(start): yearly files to 2005, monthly to March 2013, then daily.
# Source groups ("Shard years" Map items: 1 per yearly year, 12 per later year) one run may prepare: with it
# the definition's worst-case history stays under half of Step Functions' 25,000 events (test_stack_history).
MAX_SHARD_ITEMS = 200
# Training instances per job; data preparation (lambdas.dataprep.pipeline) refuses more parts per group than this.
MAX_INSTANCE_COUNT = 100
# Event codes one run one-hot encodes (CAMEO has about 300 codes); data preparation holds profiles to it too.
MAX_EVENT_CODES = 300
# `scoring`: the test year is scored on two endpoints (the workshop's way) or by two batch transform jobs.
SCORING_ENDPOINT = "endpoint"
SCORING_TRANSFORM = "transform"
SCORING_MODES = (SCORING_ENDPOINT, SCORING_TRANSFORM)
# Linear Learner settings of the workshop; user overrides are merged over them.
BASE_HYPERPARAMETERS = {
    "mini_batch_size": "500",
    "predictor_type": "regressor",
    "epochs": "2",
    "num_models": "32",
    "loss": "absolute_loss",
}
# The endpoint wait loop (config.endpoint_poll_schedule): the first polls at endpointPollSeconds, then the
# wait doubles up to max(endpointPollSeconds, 30 s).
ENDPOINT_QUICK_POLLS = 10
ENDPOINT_STEADY_POLL_SECONDS = 30


# --- the shape of $.config values (what a JSONPath may address below a key) --------------------------------


@dataclass(frozen=True)
class Shape:
    kind: Literal["value", "list", "record", "map"]
    name: str  # how the docs say it
    item: Shape | None = None  # a list's items (`[n]`) or an open object's values (`.<any name>`)
    fields: tuple[tuple[str, Shape], ...] = ()  # a record's fields (`.<field>`)

    def field(self, name: str) -> Shape | None:
        return dict(self.fields).get(name)


INTEGER = Shape("value", "integer")
NUMBER = Shape("value", "number")
STRING = Shape("value", "string")
BOOLEAN = Shape("value", "boolean")
OPTIONAL_NUMBER = Shape("value", "number or null")


def list_of(item: Shape) -> Shape:
    return Shape("list", f"list of {item.name}", item=item)


def map_of(item: Shape) -> Shape:
    return Shape("map", f"object of {item.name}", item=item)


def record(**fields: Shape) -> Shape:
    return Shape("record", "object {" + ", ".join(fields) + "}", fields=tuple(fields.items()))


def or_null(shape: Shape) -> Shape:
    return Shape(shape.kind, f"{shape.name} or null", item=shape.item, fields=shape.fields)


def shape_of(value: object) -> Shape:
    """The shape of a scalar default (rows with lists or objects say theirs)."""
    for kind, shape in ((bool, BOOLEAN), (int, INTEGER), (float, NUMBER), (str, STRING)):
        if isinstance(value, kind):
            return shape
    raise TypeError(f"no shape for {value!r}: give the row a shape")


# --- the execution input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputKey:
    name: str
    default: Any
    validate: v.Validator
    meaning: str
    shape: Shape | None = None  # None: that of the default
    data_parameter: bool = False  # changes the prepared dataset: part of the dataset cache key
    in_config: str = "execution input"  # what `$.config.<name>` holds (ARCHITECTURE table)
    # The check of `$.config.<name>` where the config holds something other than the input (events read it).
    config_validate: v.Validator | None = None

    @property
    def validate_config(self) -> v.Validator:
        return self.config_validate or self.validate

    @property
    def config_shape(self) -> Shape:
        return self.shape or shape_of(self.default)


def _rows(*rows: InputKey) -> dict[str, InputKey]:
    return {row.name: row for row in rows}


_INSTANCE_COUNT = v.integer(1, MAX_INSTANCE_COUNT)
_SWEEP_GRID = sw.grid_validator(_INSTANCE_COUNT, MAX_INSTANCE_COUNT)
_SWEEP_GRID_SHAPE = record(instanceCount=list_of(INTEGER), hyperParameters=map_of(list_of(STRING)))
_BRANCH_NAMES = record(**dict.fromkeys(BRANCHES, STRING))
SWEEP_SHAPE = or_null(record(
    grid=_SWEEP_GRID_SHAPE,
    points=list_of(record(point=STRING, instanceCount=INTEGER, hyperParameters=map_of(STRING),
                          config=record(instanceCount=INTEGER, names=_BRANCH_NAMES, runPrefix=STRING))),
))
_hyperparameter_defaults = ", ".join(f"{key}={value}" for key, value in BASE_HYPERPARAMETERS.items())
# Row order is validation order (a run's first error) and the order of `$.config` and the README table.
INPUT_KEYS: dict[str, InputKey] = _rows(
    InputKey("trainYears", [1979, 1980, 1981, 1982, 1983], v.YEARS,
             "training years (each split 90/10 into train/validation; see \"Periods supported\")",
             list_of(INTEGER), data_parameter=True),
    InputKey("testYear", 1984, v.YEAR,
             "held-out year scored on both endpoints; must not be a training year", data_parameter=True),
    InputKey("topEventCodes", 20, v.integer(1, MAX_EVENT_CODES),
             "the base year's (first training year's) most frequent event codes, one-hot encoded", data_parameter=True),
    InputKey("instanceCount", 5, _INSTANCE_COUNT,
             "training instances per job; it sets the shard plan: data preparation writes each training year as "
             "`instanceCount` train objects of near-equal size, so every sharded host reads one part of every "
             "year (the same rows within one per year)", data_parameter=True,
             in_config="execution input; with a `sweep`, lcm(`sweep.instanceCount`): the shard plan every point "
                       "shares (each point's own count is in its `config`)"),
    InputKey("trainingInstanceType", "ml.c5.2xlarge", v.INSTANCE_TYPE,
             "instance type of both training jobs (the seed used `ml.c4.2xlarge`)"),
    InputKey("hostingInstanceType", "ml.m5.xlarge", v.INSTANCE_TYPE,
             "instance type of the endpoints, one instance per endpoint (or of the transform jobs, one instance each)"),
    InputKey("hyperParameters", {}, v.HYPERPARAMETERS,
             f"overrides over `{_hyperparameter_defaults}` (`feature_dim` comes from the data)", map_of(STRING),
             in_config=f"`{_hyperparameter_defaults}` with the input's overrides (the training states add "
                       "`feature_dim` from the data)"),
    InputKey("useSpotInstances", False, v.BOOLEAN, "managed spot training (with `maxWaitTimeInSeconds`)"),
    InputKey("keepEndpoints", False, v.BOOLEAN,
             "keep both endpoints (and their configs and models) after the run; you pay for them until deleted"),
    InputKey("scoring", SCORING_ENDPOINT, v.one_of(*SCORING_MODES),
             f"how both models score the test year: `{SCORING_ENDPOINT}` (the workshop's: an endpoint each, "
             f"invoked batch by batch) or `{SCORING_TRANSFORM}` (a batch transform job each, `.sync`: no endpoint, "
             "nothing left running; the jobs use `hostingInstanceType`)",
             in_config=f"execution input; `{SCORING_TRANSFORM}` with a `sweep`"),
    InputKey("endpointPollSeconds", 30, v.integer(1, 300),
             f"wait between `DescribeEndpoint` polls; below {ENDPOINT_STEADY_POLL_SECONDS} s only the first "
             f"{ENDPOINT_QUICK_POLLS} polls are that quick, then the wait doubles up to "
             f"{ENDPOINT_STEADY_POLL_SECONDS} s, so an hour of waiting stays about 130 polls (Step Functions keeps "
             "at most 25,000 events per execution)"),
    InputKey("seed", 1729, v.integer(0, 2**32 - 1), "shuffle seed (of each source group's rows)", data_parameter=True),
    InputKey("trainFraction", 0.9, v.fraction(low_inclusive=False),
             "train share of each training group's rows (the rest is validation)", data_parameter=True),
    InputKey("maxBadRowFraction", 0.01, v.fraction(low_inclusive=True),
             "tolerated share of malformed rows (CRLF line ends and invalid UTF-8 in unused text columns are not "
             "malformed: they are counted as notes)", data_parameter=True),
    InputKey("maxRuntimeInSeconds", 3600, v.integer(60, 432000), "training stopping condition"),
    InputKey("maxWaitTimeInSeconds", 7200, v.integer(60, 432000),
             "training stopping condition: the wait, spot only"),
    InputKey("maxCostUsd", None, v.OPTIONAL_DOLLARS,
             "ceiling on the run's worst-case cost: the pre-flight refuses the run (`CostLimitExceededError`) before "
             "any SageMaker call when 2 x `instanceCount` x `maxRuntimeInSeconds` (`maxWaitTimeInSeconds` with spot) "
             "of training plus both endpoints' longest wait and scoring, at on-demand prices, cost more (see "
             "\"What a run costs\")", OPTIONAL_NUMBER, in_config="execution input (null: no ceiling)"),
    InputKey("sourceBucket", "gdelt-open-data", v.BUCKET, "the bucket of the GDELT event files", data_parameter=True),
    InputKey("sourcePrefix", "events/", v.KEY_PREFIX,
             "the key prefix of the GDELT event files; bucket and prefix must lie inside one of the "
             "deployment's `shardlab:sourceLocations` (see \"Other source locations\")", data_parameter=True),
    InputKey("sweep", None, _SWEEP_GRID,
             "a grid of runs, e.g. `{\"instanceCount\": [1, 2, 5], \"hyperParameters\": {\"epochs\": [\"2\", "
             "\"4\"]}}`: both distribution types train at every point (the product of the lists) and are scored by "
             "batch transform; all points share one prepared dataset with lcm(`sweep.instanceCount`) train objects "
             "per source group (see \"Sweeps\")", SWEEP_SHAPE,
             in_config="null without a sweep; else `{grid, points}`: the grid as given and one item per point "
                       "(`p01`... in the order instanceCount, epochs, mini_batch_size) with its `instanceCount`, "
                       "swept `hyperParameters` and the `config` keys it overrides (`instanceCount`, "
                       "`names` `<prefix>-<run part <=20>-<8 hex>-<point>-<branch>`, `runPrefix` "
                       "`runs/<runId>/points/<point>/`); with a sweep, `instanceCount` is the shared shard plan "
                       "lcm(`sweep.instanceCount`) and `scoring` is `transform`",
             config_validate=sw.config_validator(_SWEEP_GRID, _INSTANCE_COUNT, BRANCHES)),
)


class _Defaults(Mapping[str, Any]):
    """`{key: default}` of the rows, read when used (so a row added to INPUT_KEYS has its default here)."""

    def __getitem__(self, key: str) -> Any:
        return INPUT_KEYS[key].default

    def __iter__(self) -> Iterator[str]:
        return iter(INPUT_KEYS)

    def __len__(self) -> int:
        return len(INPUT_KEYS)

    def __repr__(self) -> str:
        return repr(dict(self))


DEFAULTS: Mapping[str, Any] = _Defaults()


def unknown_input_keys(keys: Iterable[str]) -> list[str]:
    return sorted(set(keys) - set(INPUT_KEYS))


def data_parameters() -> list[str]:
    return [row.name for row in INPUT_KEYS.values() if row.data_parameter]


# --- checks across keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossCheck:
    after: str  # runs once this row is validated, so a run's first error stays the one it always was
    check: Callable[[dict[str, Any], ValidationContext], None]
    rule: str  # for the README


def _test_year_held_out(config: dict[str, Any], _: ValidationContext) -> None:
    if config["testYear"] in config["trainYears"]:
        raise InvalidExecutionInputError(
            f"testYear {config['testYear']} is also in trainYears; the test year must be held out"
        )


def _source_groups_bounded(config: dict[str, Any], _: ValidationContext) -> None:
    groups = sum(group_count(year) for year in [*config["trainYears"], config["testYear"]])
    if groups > MAX_SHARD_ITEMS:
        raise InvalidExecutionInputError(
            f"trainYears and testYear are {groups} source groups (1 per year to 2005, 12 per later year: one per "
            f"month); one run prepares at most {MAX_SHARD_ITEMS} (e.g. 16 years from 2006 on and 8 before)"
        )


def _source_readable(config: dict[str, Any], context: ValidationContext) -> None:
    check_source_readable(config["sourceBucket"], config["sourcePrefix"], context.source_locations)


def _spot_wait_covers_runtime(config: dict[str, Any], _: ValidationContext) -> None:
    if config["useSpotInstances"] and config["maxWaitTimeInSeconds"] < config["maxRuntimeInSeconds"]:
        raise InvalidExecutionInputError(
            "maxWaitTimeInSeconds must be at least maxRuntimeInSeconds when useSpotInstances is true"
        )


def _sweep_given_once(config: dict[str, Any], context: ValidationContext) -> None:
    grid = config["sweep"] or {}
    swept = [*(["instanceCount"] if "instanceCount" in grid else []),
             *(f"hyperParameters.{name}" for name in grid.get("hyperParameters", {}))]
    for path in swept:
        if path in context.given:
            raise InvalidExecutionInputError(
                f"{path} and sweep.{path} are both given; give it in one place (the sweep's list, or {path} alone)"
            )


def _sweep_scores_by_transform(config: dict[str, Any], context: ValidationContext) -> None:
    if config["sweep"] is None:
        return
    if "scoring" in context.given and config["scoring"] == SCORING_ENDPOINT:
        raise InvalidExecutionInputError(
            f"scoring {json.dumps(SCORING_ENDPOINT)} cannot go with a sweep: a sweep scores every point by batch "
            f"transform (its scoring is {json.dumps(SCORING_TRANSFORM)}); leave scoring out"
        )
    if config["keepEndpoints"]:
        raise InvalidExecutionInputError(
            "keepEndpoints true cannot go with a sweep: a sweep scores by batch transform and has no endpoints; "
            "leave keepEndpoints out (or false)"
        )


CROSS_CHECKS: list[CrossCheck] = [
    CrossCheck("testYear", _test_year_held_out, "`testYear` is not one of `trainYears`"),
    CrossCheck("testYear", _source_groups_bounded,
               f"`trainYears` and `testYear` are at most {MAX_SHARD_ITEMS} source groups (1 per year to 2005, "
               "12 per later year)"),
    CrossCheck("sourcePrefix", _source_readable,
               "`s3://<sourceBucket>/<sourcePrefix>` lies inside one of the deployment's `shardlab:sourceLocations`"),
    CrossCheck("sourcePrefix", _spot_wait_covers_runtime,
               "with `useSpotInstances`, `maxWaitTimeInSeconds` is at least `maxRuntimeInSeconds`"),
    CrossCheck("sweep", _sweep_given_once,
               "a parameter `sweep` lists (`instanceCount`, `hyperParameters.epochs`, "
               "`hyperParameters.mini_batch_size`) is not also given at top level"),
    CrossCheck("sweep", _sweep_scores_by_transform,
               f"with `sweep`, `scoring` is not given as `{SCORING_ENDPOINT}` and `keepEndpoints` is not true"),
]


def given_paths(raw: Mapping[str, Any]) -> frozenset[str]:
    """The keys the execution input itself gives, and its `hyperParameters.<name>` entries."""
    hyperparameters = raw.get("hyperParameters")
    entries = [f"hyperParameters.{name}" for name in hyperparameters] if isinstance(hyperparameters, dict) else []
    return frozenset([*raw, *entries])


def validate_execution_input(raw: object, defaults: Mapping[str, Any] | None = None,
                             source_locations: list[str] | None = None, *, latest_year: int | None = None
                             ) -> dict[str, Any]:
    """Merge `raw` over the defaults and check every field; returns the validated settings.

    `source_locations`: the `s3://bucket/prefix/` locations the deployment's roles may read
    (cdk.json `shardlab:sourceLocations`); a source outside all of them is refused here."""
    base = dict(DEFAULTS if defaults is None else defaults)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidExecutionInputError(f"execution input must be a JSON object, got {json.dumps(raw)}")
    unknown = unknown_input_keys(raw)
    if unknown:
        raise InvalidExecutionInputError(
            f"unknown execution input key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(INPUT_KEYS))}"
        )
    merged = {**base, **raw}
    context = ValidationContext(latest_year=latest_complete_year() if latest_year is None else latest_year,
                                source_locations=tuple(source_locations or DEFAULT_SOURCE_LOCATIONS),
                                given=given_paths(raw))
    config: dict[str, Any] = {}
    for row in INPUT_KEYS.values():
        config[row.name] = row.validate(row.name, merged[row.name], context)
        for cross_check in CROSS_CHECKS:
            if cross_check.after == row.name:
                cross_check.check(config, context)
    return config


# --- the run config at $.config: the input keys above, and these derived from them --------------------------


@dataclass(frozen=True)
class DerivedKey:
    name: str
    shape: Shape
    meaning: str


_TAG = record(Key=STRING, Value=STRING)
DERIVED_KEYS: dict[str, DerivedKey] = {row.name: row for row in (
    DerivedKey("runId", STRING, "`<sanitized execution name, <=24 chars>-<8 hex of sha256(name, start time)>`: "
                                "a reused execution name never reuses a job name"),
    DerivedKey("bucket", STRING, "the stack bucket"),
    DerivedKey("datasetPrefix", STRING, "`datasets/<16 hex of sha256 of the data parameters>/` (the input table's "
                                        "data parameters): runs with the same ones share one prepared dataset"),
    DerivedKey("runPrefix", STRING, "`runs/<runId>/`"),
    DerivedKey("names", _BRANCH_NAMES,
               "`<prefix>-<runId>-<branch>` per branch: its training job, model, endpoint config and endpoint"),
    DerivedKey("shardYears", list_of(record(year=INTEGER, role=STRING, group=INTEGER, layout=STRING)),
               "the \"Shard years\" Map's items: one per source group of each training year (role `train`) and "
               "the test year (`test`)"),
    DerivedKey("stoppingCondition", record(MaxRuntimeInSeconds=INTEGER, MaxWaitTimeInSeconds=INTEGER),
               "SageMaker's StoppingCondition; `MaxWaitTimeInSeconds` only with `useSpotInstances`"),
    DerivedKey("endpointPollSchedule", list_of(INTEGER), "seconds to wait before each `DescribeEndpoint` poll"),
    DerivedKey("maxEndpointPolls", INTEGER, "`len(endpointPollSchedule) - 1`: the poll counter's last value"),
    DerivedKey("transformTimeoutSeconds", INTEGER,
               "the batch transform task's `TimeoutSeconds` (with `scoring` `transform`): a job still running then "
               "fails the run, whose clean-up stops it"),
    DerivedKey("tags", list_of(_TAG), f"`{STACK_TAG}=<prefix>` and `{RUN_TAG}=<runId>` on what the run creates"),
)}


def config_shapes() -> dict[str, Shape]:
    """Every `$.config` key and its shape (read when used, like DEFAULTS)."""
    return {**{row.name: row.config_shape for row in INPUT_KEYS.values()},
            **{row.name: row.shape for row in DERIVED_KEYS.values()}}
