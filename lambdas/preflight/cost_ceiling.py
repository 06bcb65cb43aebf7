"""The run's worst-case cost before anything starts, and the `maxCostUsd` ceiling.

Worst case (on-demand prices, ``lambdas.lambda_common.pricing``):
- training: 2 jobs x ``instanceCount`` x ``MaxRuntimeInSeconds`` (``MaxWaitTimeInSeconds`` with managed spot:
  SageMaker may hold the job that long) x the training price;
- scoring by endpoints: 2 endpoints x 1 instance x (the endpoint wait loop's longest wait, the sum of
  ``endpointPollSchedule``, + the scoring bound, the compare Lambda's timeout) x the hosting price;
- scoring by batch transform (``transform_worst_case``, for the lead to wire with the transform jobs'
  ``MaxRuntimeInSeconds`` (their ModelClientConfig/timeout) and instance count): 2 jobs x instances x that
  timeout x the transform price.

With a ``sweep`` the worst case sums every point: its 2 training jobs on the point's ``instanceCount`` and its 2
transform jobs (a sweep always scores by batch transform); ``points`` lists each point's share, and the ceiling
applies to the sum.

Above ``maxCostUsd`` the run fails with ``CostLimitExceededError`` naming the projection, its parts and the
input keys to change, before any SageMaker call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lambdas.lambda_common.pricing import HOSTING, TRAINING, TRANSFORM, PriceSheet, look_up_prices
from lambdas.lambda_common.vocabulary import BRANCHES

TRAINING_JOBS = len(BRANCHES)
ENDPOINTS = len(BRANCHES)
INSTANCES_PER_ENDPOINT = 1  # stacks/hosting.py: InitialInstanceCount
TRANSFORM_JOBS = len(BRANCHES)
TRANSFORM_INSTANCES = 1  # stacks/transform.py: TransformResources.InstanceCount


class CostLimitExceededError(Exception):
    """The run's worst case is above maxCostUsd; the message names the projection, its parts and what to change."""


def training_seconds_bound(config: Mapping[str, Any]) -> tuple[int, str]:
    if config["useSpotInstances"]:
        return int(config["maxWaitTimeInSeconds"]), "maxWaitTimeInSeconds"
    return int(config["maxRuntimeInSeconds"]), "maxRuntimeInSeconds"


def training_worst_case(config: Mapping[str, Any], sheet: PriceSheet) -> dict[str, Any]:
    seconds, key = training_seconds_bound(config)
    price = sheet.price(TRAINING, config["trainingInstanceType"])
    count = int(config["instanceCount"])
    return {
        "usd": price.dollars(TRAINING_JOBS * count * seconds),
        "formula": (f"{TRAINING_JOBS} jobs x instanceCount {count} x {key} {seconds} s x "
                    f"{price.instance_type} ${price.usd_per_hour:g}/h"),
        "keys": ["instanceCount", key, "trainingInstanceType"],
    }


def endpoints_worst_case(config: Mapping[str, Any], sheet: PriceSheet, scoring_bound_seconds: int) -> dict[str, Any]:
    wait = sum(int(s) for s in config["endpointPollSchedule"])
    price = sheet.price(HOSTING, config["hostingInstanceType"])
    instance_seconds = ENDPOINTS * INSTANCES_PER_ENDPOINT * (wait + scoring_bound_seconds)
    return {
        "usd": price.dollars(instance_seconds),
        "formula": (f"{ENDPOINTS} endpoints x {INSTANCES_PER_ENDPOINT} {price.instance_type} x (longest wait {wait} s "
                    f"+ scoring bound {scoring_bound_seconds} s) x ${price.usd_per_hour:g}/h"),
        "keys": ["hostingInstanceType"],
    }


def transform_worst_case(sheet: PriceSheet, *, instance_type: str, instance_count: int,
                         max_runtime_seconds: int) -> dict[str, Any]:
    """Scoring by batch transform: both jobs run until their timeout (``max_runtime_seconds``, the transform
    jobs' own bound, for the lead to pass from the definition) on ``instance_count`` instances each."""
    price = sheet.price(TRANSFORM, instance_type)
    return {
        "usd": price.dollars(TRANSFORM_JOBS * instance_count * max_runtime_seconds),
        "formula": (f"{TRANSFORM_JOBS} transform jobs x {instance_count} {instance_type} x timeout "
                    f"{max_runtime_seconds} s x ${price.usd_per_hour:g}/h"),
        "keys": ["hostingInstanceType"],
    }


def by_transform(config: Mapping[str, Any]) -> bool:
    return config.get("scoring") == "transform"


def price_sheet(pricing: Any, region: str, config: Mapping[str, Any]) -> PriceSheet:
    scoring_usage = TRANSFORM if by_transform(config) else HOSTING
    return look_up_prices(pricing, region, [(TRAINING, config["trainingInstanceType"]),
                                            (scoring_usage, config["hostingInstanceType"])])


def _transform_term(config: Mapping[str, Any], sheet: PriceSheet) -> dict[str, Any]:
    return transform_worst_case(sheet, instance_type=config["hostingInstanceType"], instance_count=TRANSFORM_INSTANCES,
                                max_runtime_seconds=int(config["transformTimeoutSeconds"]))


def sweep_worst_case(config: Mapping[str, Any], sheet: PriceSheet) -> tuple[dict[str, Any], dict[str, Any],
                                                                             list[dict[str, Any]]]:
    """Training and scoring summed over every sweep point, and each point's worst case."""
    points = config["sweep"]["points"]
    counts = [int(point["instanceCount"]) for point in points]
    one_transform = _transform_term(config, sheet)  # every point scores the same test year the same way
    shares = []
    training_usd = 0.0
    for point in points:
        training = training_worst_case({**config, "instanceCount": point["instanceCount"]}, sheet)
        training_usd += training["usd"]
        shares.append({"point": point["point"], "worstCaseUsd": round(training["usd"] + one_transform["usd"], 4)})
    scoring_usd = len(points) * one_transform["usd"]
    seconds, key = training_seconds_bound(config)
    train_price = sheet.price(TRAINING, config["trainingInstanceType"])
    swept = "sweep.instanceCount" if "instanceCount" in config["sweep"]["grid"] else "instanceCount"
    training_term = {
        "usd": training_usd,
        "formula": (f"{len(points)} sweep points x {TRAINING_JOBS} jobs x their instanceCount ({sum(counts)} in all: "
                    f"{' + '.join(map(str, counts))}) x {key} {seconds} s x {train_price.instance_type} "
                    f"${train_price.usd_per_hour:g}/h"),
        "keys": [swept, key, "trainingInstanceType"],
    }
    scoring_term = {"usd": scoring_usd, "formula": f"{len(points)} sweep points x {one_transform['formula']}",
                    "keys": one_transform["keys"]}
    return training_term, scoring_term, shares


def project(config: Mapping[str, Any], sheet: PriceSheet, *, scoring_bound_seconds: int,
            scoring: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The projection the state output and the report carry. ``scoring``: a ready scoring term (e.g.
    ``transform_worst_case``); by default the endpoints'. With a sweep, the sum over its points."""
    if config.get("sweep"):
        training, swept_scoring, shares = sweep_worst_case(config, sheet)
        return {**_projection(config, sheet, training, swept_scoring), "points": shares}
    training = training_worst_case(config, sheet)
    if scoring is None and by_transform(config):
        scoring = _transform_term(config, sheet)
    scoring = scoring or endpoints_worst_case(config, sheet, scoring_bound_seconds)
    return _projection(config, sheet, training, scoring)


def _projection(config: Mapping[str, Any], sheet: PriceSheet, training: Mapping[str, Any],
                scoring: Mapping[str, Any]) -> dict[str, Any]:
    worst = training["usd"] + scoring["usd"]
    return {
        "currency": "USD",
        "worstCaseUsd": round(worst, 4),
        "trainingUsd": round(training["usd"], 4),
        "scoringUsd": round(scoring["usd"], 4),
        "training": training["formula"],
        "scoring": scoring["formula"],
        "maxCostUsd": config.get("maxCostUsd"),
        "priceSource": sheet.source,
        "priceSourceDetail": sheet.describe_source(),
        "region": sheet.region,
        "keys": sorted({*training["keys"], *scoring["keys"]}),
    }


def cents_up(usd: float) -> str:
    """A worst-case amount for people: rounded up to the cent (so the parts add up to at most the total shown)."""
    return f"{math.ceil(round(usd * 100, 6)) / 100:.2f}"


def check_ceiling(projection: Mapping[str, Any]) -> None:
    ceiling = projection.get("maxCostUsd")
    if ceiling is None or projection["worstCaseUsd"] <= ceiling:
        return
    numbers = [k for k in projection["keys"] if not k.endswith("InstanceType")]
    types = [k for k in projection["keys"] if k.endswith("InstanceType")]
    points = projection.get("points")
    whole = f"this sweep's worst case (all {len(points)} points)" if points else "this run's worst case"
    fewer = "sweep fewer points, " if points else ""
    raise CostLimitExceededError(
        f"{whole} is ${cents_up(projection['worstCaseUsd'])}, above maxCostUsd ${ceiling:g}: training "
        f"${cents_up(projection['trainingUsd'])} ({projection['training']}) + scoring "
        f"${cents_up(projection['scoringUsd'])} ({projection['scoring']}); prices in {projection['region']} from "
        f"{projection['priceSourceDetail']}. Raise maxCostUsd, lower {' or '.join(numbers)}, {fewer}or choose a "
        f"cheaper {' or '.join(types)}. Nothing was started."
    )
