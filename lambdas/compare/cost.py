"""What the run cost in dollars: training (billable seconds x instances x price), endpoints (instance-seconds up
x price), batch transform (instance-seconds x price), with managed spot savings and the pre-flight's projection.

Prices come from ``lambdas.lambda_common.pricing`` (the Price List API, or the bundled table; the report names which).
Spot savings follow AWS's documented formula: ``(1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100``;
the dollars saved are the on-demand price of the training seconds not billed.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lambdas.compare.training import TrainingFigures
from lambdas.lambda_common.pricing import (
    HOSTING,
    TRAINING,
    TRANSFORM,
    Price,
    PriceSheet,
    UnknownInstanceTypeError,
    look_up_prices,
)
from lambdas.lambda_common.vocabulary import BRANCHES, DISTRIBUTION_TYPES

CENTS = 4  # dollars are rounded to 1/100 of a cent in the report


def usd(value: float) -> float:
    return round(value, CENTS)


def spot_savings_percent(training_seconds: int, billable_seconds: int) -> float | None:
    """AWS's formula: (1 - BillableTimeInSeconds / TrainingTimeInSeconds) x 100."""
    return None if not training_seconds else (1 - billable_seconds / training_seconds) * 100


def training_cost(figures: TrainingFigures, price: Price) -> dict[str, Any]:
    cost: dict[str, Any] = {
        "instanceType": figures.instance_type,
        "instanceCount": figures.instance_count,
        "trainingTimeInSeconds": figures.training_seconds,
        "billableTimeInSeconds": figures.billable_seconds,
        "billableInstanceSeconds": figures.billable_instance_seconds,
        "usdPerHour": price.usd_per_hour,
        "usd": usd(price.dollars(figures.billable_instance_seconds)),
        "managedSpotTraining": figures.spot,
    }
    if figures.spot:
        unbilled = (figures.training_seconds - figures.billable_seconds) * figures.instance_count
        cost["spotSavingsPercent"] = spot_savings_percent(figures.training_seconds, figures.billable_seconds)
        cost["spotSavingsUsd"] = usd(price.dollars(unbilled))
        cost["onDemandUsd"] = usd(price.dollars(figures.training_seconds * figures.instance_count))
    return cost


def endpoint_cost(description: Mapping[str, Any], price: Price, until: datetime.datetime) -> dict[str, Any]:
    """An endpoint's instance-seconds from its CreationTime to ``until`` (the end of scoring; the run deletes it
    next) x the hosting price."""
    instances = sum(int(v.get("CurrentInstanceCount", 1)) for v in description.get("ProductionVariants", [])) or 1
    up_seconds = max((until - description["CreationTime"]).total_seconds(), 0.0)
    return {
        "endpointName": description["EndpointName"],
        "instanceType": price.instance_type,
        "instanceCount": instances,
        "secondsUp": round(up_seconds, 3),
        "instanceSeconds": round(up_seconds * instances, 3),
        "usdPerHour": price.usd_per_hour,
        "usd": usd(price.dollars(up_seconds * instances)),
    }


def transform_job_cost(description: Mapping[str, Any], price: Price) -> dict[str, Any]:
    """A batch transform job from its DescribeTransformJob answer: (TransformEndTime - TransformStartTime) x
    TransformResources.InstanceCount x the transform price of TransformResources.InstanceType."""
    resources = description["TransformResources"]
    if price.usage != TRANSFORM or price.instance_type != resources["InstanceType"]:
        raise ValueError(f"{description['TransformJobName']} runs on {resources['InstanceType']} (batch transform); "
                         f"the price given is {price.usage} of {price.instance_type}")
    seconds = max((description["TransformEndTime"] - description["TransformStartTime"]).total_seconds(), 0.0)
    instance_seconds = seconds * int(resources["InstanceCount"])
    return {
        "transformJobName": description["TransformJobName"],
        "instanceType": resources["InstanceType"],
        "instanceCount": int(resources["InstanceCount"]),
        "seconds": round(seconds, 3),
        "instanceSeconds": round(instance_seconds, 3),
        "usdPerHour": price.usd_per_hour,
        "usd": usd(price.dollars(instance_seconds)),
    }


def run_cost(
    *,
    training: Mapping[str, TrainingFigures],
    endpoints: Mapping[str, Mapping[str, Any]],
    hosting_instance_type: str | None,
    transforms: Mapping[str, Mapping[str, Any]] | None = None,
    sagemaker: Any,
    pricing: Any,
    projection: Mapping[str, Any] | None,
    now: Callable[[], datetime.datetime],
) -> dict[str, Any]:
    """report.json's ``cost``: per branch its training and endpoint cost, the total, the price source, and the
    pre-flight's worst case beside it. ``endpoints``: each branch's DescribeEndpoint answer (none when scoring
    used no endpoint); ``hosting_instance_type`` (the run config's) or, without it, each endpoint config's;
    ``transforms``: each branch's DescribeTransformJob answer when scoring was by batch transform.
    A type no source prices leaves the dollars out, with the reason."""
    until = now()
    hosting_types = {branch: hosting_instance_type or _hosting_type(sagemaker, d) for branch, d in endpoints.items()}
    transforms = transforms or {}
    wanted = [(TRAINING, f.instance_type) for f in training.values()] + [(HOSTING, t) for t in hosting_types.values()]
    wanted += [(TRANSFORM, d["TransformResources"]["InstanceType"]) for d in transforms.values()]
    try:
        sheet = look_up_prices(pricing, sagemaker.meta.region_name, wanted)
    except UnknownInstanceTypeError as error:
        return {"currency": "USD", "unpriced": str(error), "projected": dict(projection) if projection else None}
    return priced_run_cost(sheet, training=training, endpoints=endpoints, hosting_types=hosting_types,
                           transforms=transforms, projection=projection, until=until)


def _hosting_type(sagemaker: Any, description: Mapping[str, Any]) -> str:
    """DescribeEndpoint does not name the instance type; its endpoint config does."""
    config = sagemaker.describe_endpoint_config(EndpointConfigName=description["EndpointConfigName"])
    return str(config["ProductionVariants"][0]["InstanceType"])


def priced_run_cost(sheet: PriceSheet, *, training: Mapping[str, TrainingFigures],
                    endpoints: Mapping[str, Mapping[str, Any]], hosting_types: Mapping[str, str],
                    projection: Mapping[str, Any] | None, until: datetime.datetime,
                    transforms: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    trainings = {b: training_cost(f, sheet.price(TRAINING, f.instance_type)) for b, f in training.items()}
    hosted = {b: endpoint_cost(endpoints[b], sheet.price(HOSTING, hosting_types[b]), until) for b in endpoints}
    # Scoring is two endpoints or two batch transform jobs (scoring `transform`).
    transformed = {b: transform_job_cost(d, sheet.price(TRANSFORM, d["TransformResources"]["InstanceType"]))
                   for b, d in (transforms or {}).items()}
    scoring = {**hosted, **transformed}
    totals = {branch: usd(trainings[branch]["usd"] + (scoring[branch]["usd"] if branch in scoring else 0.0))
              for branch in BRANCHES if branch in trainings}
    branches = {branch: {"training": trainings[branch], "endpoint": hosted.get(branch),
                         "transform": transformed.get(branch), "usd": totals[branch]}
                for branch in totals}
    total = usd(sum(totals.values()))
    cost: dict[str, Any] = {
        "currency": "USD",
        "prices": sheet.as_report(),
        "priceSource": sheet.describe_source(),
        "branches": branches,
        "trainingUsd": usd(sum(t["usd"] for t in trainings.values())),
        "endpointsUsd": usd(sum(h["usd"] for h in hosted.values())),
        "transformsUsd": usd(sum(t["usd"] for t in transformed.values())),
        "totalUsd": total,
        "projected": dict(projection) if projection else None,
    }
    if projection and projection.get("worstCaseUsd"):
        cost["actualShareOfWorstCase"] = total / float(projection["worstCaseUsd"])
    return cost


def cost_markdown(cost: Mapping[str, Any] | None) -> list[str]:
    """report.md's "Cost" section."""
    if not cost:
        return []
    lines = ["## Cost", ""]
    if "unpriced" in cost:
        return [*lines, f"Not priced: {cost['unpriced']}", ""]
    lines += [
        f"Prices: {cost['priceSource']}.",
        "",
        "| | training (billable s x instances x price) | scoring: endpoint (instance-seconds up x price) or batch "
        "transform (instance-seconds x price) | total |",
        "|---|---:|---:|---:|",
    ]
    for branch, part in cost["branches"].items():
        t, e = part["training"], part["endpoint"] or part.get("transform")
        training_cell = (f"${t['usd']:.4f} ({t['billableTimeInSeconds']} s x {t['instanceCount']} x "
                         f"{t['instanceType']} ${t['usdPerHour']:g}/h)")
        endpoint_cell = "n/a" if e is None else (
            f"${e['usd']:.4f} ({e['instanceSeconds']:.0f} s x {e['instanceType']} ${e['usdPerHour']:g}/h)")
        lines.append(f"| {DISTRIBUTION_TYPES[branch]} | {training_cell} | {endpoint_cell} | ${part['usd']:.4f} |")
    scoring_usd = cost["endpointsUsd"] + cost.get("transformsUsd", 0.0)
    run = f"| **run** | ${cost['trainingUsd']:.4f} | ${scoring_usd:.4f} | **${cost['totalUsd']:.4f}** |"
    lines.append(run)
    lines.append("")
    for branch, part in cost["branches"].items():
        t = part["training"]
        if t["managedSpotTraining"]:
            percent = t["spotSavingsPercent"]
            lines.append(
                f"- {DISTRIBUTION_TYPES[branch]} managed spot training: {t['trainingTimeInSeconds']} s training, "
                f"{t['billableTimeInSeconds']} s billable: savings "
                f"{'n/a' if percent is None else f'{percent:.1f}%'} (${t['spotSavingsUsd']:.4f} of "
                f"${t['onDemandUsd']:.4f} on demand; (1 - billable / training) x 100)"
            )
    projected = cost.get("projected")
    if projected and "unpriced" in projected:
        lines.append(f"- Projected worst case (pre-flight): not priced: {projected['unpriced']}")
    elif projected:
        lines.append(
            f"- Projected worst case (pre-flight): ${projected['worstCaseUsd']:.4f} "
            f"(training ${projected['trainingUsd']:.4f} + scoring ${projected['scoringUsd']:.4f}); "
            f"actual ${cost['totalUsd']:.4f}, {100 * cost.get('actualShareOfWorstCase', 0.0):.1f}% of it"
            + (f"; ceiling maxCostUsd ${projected['maxCostUsd']:g}" if projected.get("maxCostUsd") else "")
        )
    return [*lines, ""]


def cost_chart_lines(cost: Mapping[str, Any] | None) -> Sequence[str]:
    """One or two lines for comparison.png (its font has no '$': amounts say USD)."""
    if not cost:
        return ()
    if "unpriced" in cost:
        return ("Cost: not priced (see report.md)",)
    parts = [
        f"{DISTRIBUTION_TYPES[b]} training USD {p['training']['usd']:.4f}"
        + ("" if p["endpoint"] is None else f" + endpoint USD {p['endpoint']['usd']:.4f}")
        + ("" if p.get("transform") is None else f" + transform USD {p['transform']['usd']:.4f}")
        for b, p in cost["branches"].items()
    ]
    source = cost["prices"]["source"]
    return (f"Cost ({source}): " + "; ".join(parts) + f"; run total USD {cost['totalUsd']:.4f}",)
