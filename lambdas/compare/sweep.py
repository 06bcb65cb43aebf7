"""The sweep report: every point's compare report -> the sweep's report.json, report.md, sweep.png and one
recommendation sentence (docs/ARCHITECTURE.md "Sweep report").

A sweep point is trained both ways; each (point, distribution type) is a *candidate* with a cost and a test MSE.

- Cost: the candidate's dollars in its point's report (training + batch transform, ``cost.branches.<branch>.usd``).
  If any point's report could not be priced (``cost.unpriced``), every candidate is costed in billable
  instance-seconds instead (one measure for all, and the report says which).
- Pareto frontier: every candidate that no other candidate is at least as good as on both cost and MSE and
  better on one. Candidates with equal cost and equal MSE do not dominate each other: all of them are on it.
  A cost of 0 (a price of 0, or dollars rounded to 0) is an ordinary cost: it is the cheapest.
- Recommendation: the cheapest candidate whose MSE is within 1% of the best MSE (``mse <= best * 1.01``; with a
  best MSE of 0 only MSE 0 is within it). Ties, in order: lower MSE, shorter training time, fewer instances,
  the point's grid order, FullyReplicated before ShardedByS3Key. The best-MSE candidate it is compared with is
  chosen by the same order among those with the lowest MSE, so it is the cheapest of them.
- Speed-up of a candidate: the training time of FullyReplicated at the smallest instance count with the same
  hyperparameters, over the candidate's own training time (both types against one baseline, so the curves
  compare; the ideal linear line is instances / smallest instances).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdas.compare.report import MARKDOWN, REPORT_FORMAT, number_cell
from lambdas.compare.sweep_chart import SweepChartData, sweep_png
from lambdas.lambda_common.contracts import SweepRecommended, SweepReportEvent, SweepReportResult
from lambdas.lambda_common.vocabulary import BRANCHES, DISTRIBUTION_TYPES, JSON, REPLICATED, SWEPT_HYPERPARAMETERS

SWEEP_REPORT_FORMAT = "shardlab-sweep-report/1"
SWEEP_KIND = "sweep"
CHART_NAME = "sweep.png"
MSE_TOLERANCE = 0.01  # "within 1% of the best test MSE"
USD = "usd"
INSTANCE_SECONDS = "billableInstanceSeconds"
# Which clock the training times are on: SageMaker's, or local mode's simulated cluster.
SAGEMAKER_CLOCK = "sagemaker"
SIMULATED_CLOCK = "simulated"
SIMULATED_NOTE = (
    "Training times are the simulated cluster's (local mode: ClusterModel in local/linear_learner/cluster_time.py), "
    "computed from the rows and bytes each host received; this machine's speed does not enter."
)


class SweepReportError(ValueError):
    """The sweep cannot be reported: an event that is not a sweep report request, or a point's report missing or
    not that point's."""


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One sweep point trained one way."""

    point: str
    order: int  # the point's index in the grid
    branch: str
    instance_count: int
    hyperparameters: Mapping[str, str]  # the point's epochs and mini_batch_size as trained
    cost: float
    mse: float
    training_seconds: float = 0.0

    @property
    def distribution_type(self) -> str:
        return DISTRIBUTION_TYPES[self.branch]

    @property
    def label(self) -> str:
        return f"{self.point} {self.distribution_type}"

    def rank(self) -> tuple[float, float, float, int, int, int]:
        """The recommendation's order: cost, then the tie-breaks of the module docstring."""
        return (self.cost, self.mse, self.training_seconds, self.instance_count, self.order,
                BRANCHES.index(self.branch))

    def dominates(self, other: Candidate) -> bool:
        return self.cost <= other.cost and self.mse <= other.mse and (self.cost < other.cost or self.mse < other.mse)


def pareto_frontier(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates no other dominates, cheapest first (then by ``Candidate.rank``)."""
    return sorted((c for c in candidates if not any(other.dominates(c) for other in candidates)),
                  key=Candidate.rank)


def recommend(candidates: Sequence[Candidate]) -> tuple[Candidate, Candidate]:
    """(the recommended candidate, the best-MSE candidate it is compared with)."""
    if not candidates:
        raise ValueError("a sweep has at least one candidate")
    best_mse = min(c.mse for c in candidates)
    best = min((c for c in candidates if c.mse == best_mse), key=Candidate.rank)
    within = [c for c in candidates if c.mse <= best_mse + MSE_TOLERANCE * abs(best_mse)]
    return min(within, key=Candidate.rank), best


def _years(years: Sequence[int]) -> str:
    ordered = sorted(years)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(map(str, ordered))


def format_cost(value: float, measure: str) -> str:
    if measure == INSTANCE_SECONDS:
        return f"{value:,.0f} instance-seconds"
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if abs(value) >= 0.1 else f"${value:.4f}"


def _instances(count: int) -> str:
    return f"{count} instance{'' if count == 1 else 's'}"


def describe_configuration(candidate: Candidate, swept: Iterable[str] = ()) -> str:
    """E.g. "ShardedByS3Key on 5 instances with 4 epochs" (mini_batch_size named when it was swept)."""
    instances = _instances(candidate.instance_count)
    parts = []
    epochs = candidate.hyperparameters.get("epochs")
    if epochs is not None:
        parts.append(f"{epochs} epoch{'' if epochs == '1' else 's'}")
    if "mini_batch_size" in swept and "mini_batch_size" in candidate.hyperparameters:
        parts.append(f"mini_batch_size {candidate.hyperparameters['mini_batch_size']}")
    return f"{candidate.distribution_type} on {instances}" + (f" with {' and '.join(parts)}" if parts else "")


def recommendation_sentence(recommended: Candidate, best: Candidate, *, measure: str, train_years: Sequence[int],
                            test_year: int, swept: Iterable[str] = ()) -> str:
    """E.g. "On these years (training 1979-1983, test 1984), ShardedByS3Key on 5 instances with 4 epochs is the
    cheapest configuration within 1% of the best test MSE ($0.41 vs $1.62; test MSE 5.06 vs 5.03)."""
    swept = tuple(swept)
    cheapest = "cheapest" if measure == USD else "cheapest (in billable instance-seconds)"
    head = (f"On these years (training {_years(train_years)}, test {test_year}), "
            f"{describe_configuration(recommended, swept)} is the {cheapest} configuration within "
            f"{MSE_TOLERANCE:.0%} of the best test MSE")
    if recommended == best:  # (a recommended candidate with the best MSE is the best-MSE candidate: same order)
        return (f"{head}, and has that best test MSE itself ({format_cost(recommended.cost, measure)}; "
                f"test MSE {recommended.mse:.4g}).")
    return (f"{head} ({format_cost(recommended.cost, measure)} vs {format_cost(best.cost, measure)}; "
            f"test MSE {recommended.mse:.4g} vs {best.mse:.4g}).")


# --- the points' reports ------------------------------------------------------------------------------------


def point_report_key(point: Mapping[str, Any]) -> str:
    return f"{point['config']['runPrefix']}report.json"


def read_point_reports(s3: Any, bucket: str, run_id: str, points: Sequence[Mapping[str, Any]]
                       ) -> list[dict[str, Any]]:
    """Each point's compare report, in grid order; a missing one, or one of another run or instance count, is
    refused naming the point."""
    reports = []
    for point in points:
        key = point_report_key(point)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey as error:
            raise SweepReportError(f"sweep point {point['point']} has no report: s3://{bucket}/{key} does not exist "
                                   "(its compare step did not finish)") from error
        report = json.loads(body)
        problem = _not_the_points_report(report, run_id, point)
        if problem:
            raise SweepReportError(f"sweep point {point['point']}: s3://{bucket}/{key} {problem}")
        reports.append(report)
    return reports


def _not_the_points_report(report: Any, run_id: str, point: Mapping[str, Any]) -> str | None:
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        return f"is not a compare report ({REPORT_FORMAT})"
    if report.get("runId") != run_id:
        return f"is the report of run {report.get('runId')!r}, not of run {run_id!r}"
    for branch in BRANCHES:
        trained = report["models"][branch]["training"]["instanceCount"]
        if trained != point["instanceCount"]:
            return (f"reports {trained} {DISTRIBUTION_TYPES[branch]} instances; the point has "
                    f"{point['instanceCount']}")
        mse = report["models"][branch]["test"]["mse"]
        if not isinstance(mse, int | float) or not math.isfinite(mse):
            return f"has no finite {DISTRIBUTION_TYPES[branch]} test MSE ({mse!r})"
    return None


def cost_measure(reports: Sequence[Mapping[str, Any]]) -> str:
    """Dollars when every point's report priced its jobs, else billable instance-seconds for all."""
    return USD if all("branches" in (report.get("cost") or {}) for report in reports) else INSTANCE_SECONDS


def point_rows(point: Mapping[str, Any], order: int, report: Mapping[str, Any], *, uri: str
               ) -> list[dict[str, Any]]:
    """report.json's rows of one point: one per distribution type."""
    hyperparameters = {**report.get("parameters", {}).get("hyperParameters", {}), **point["hyperParameters"]}
    trained_with = {name: hyperparameters[name] for name in SWEPT_HYPERPARAMETERS if name in hyperparameters}
    branches = (report.get("cost") or {}).get("branches", {})
    rows = []
    for branch in BRANCHES:
        model, cost = report["models"][branch], branches.get(branch)
        training, test = model["training"], model["test"]
        scoring = (cost or {}).get("transform") or (cost or {}).get("endpoint")
        rows.append({
            "point": point["point"],
            "order": order,
            "branch": branch,
            "distributionType": DISTRIBUTION_TYPES[branch],
            "instanceCount": training["instanceCount"],
            "instanceType": training["instanceType"],
            "hyperParameters": trained_with,
            "trainingJobName": model["trainingJobName"],
            "trainingTimeInSeconds": training["trainingTimeInSeconds"],
            "billableTimeInSeconds": training["billableTimeInSeconds"],
            "billableInstanceSeconds": training["billableInstanceSeconds"],
            "usd": None if cost is None else cost["usd"],
            "trainingUsd": None if cost is None else cost["training"]["usd"],
            "scoringUsd": None if scoring is None else scoring["usd"],
            "testMse": test["mse"],
            "testRmse": test.get("rmse"),
            "testMae": test.get("mae"),
            "testR2": test.get("r2"),
            "report": uri,
        })
    return rows


def add_speed_ups(rows: Sequence[dict[str, Any]]) -> None:
    """Each row's ``speedUp``: FullyReplicated's training time at the smallest instance count with the same
    hyperparameters, over the row's (None when either is 0 s)."""
    for row in rows:
        same = [r for r in rows if r["hyperParameters"] == row["hyperParameters"] and r["branch"] == REPLICATED]
        base = min(same, key=lambda r: (r["instanceCount"], r["order"]))
        seconds = row["trainingTimeInSeconds"]
        row["speedUp"] = base["trainingTimeInSeconds"] / seconds if seconds and base["trainingTimeInSeconds"] else None
        row["speedUpBaseline"] = {"point": base["point"], "instanceCount": base["instanceCount"]}


def candidate_of(row: Mapping[str, Any], measure: str) -> Candidate:
    return Candidate(point=row["point"], order=row["order"], branch=row["branch"],
                     instance_count=row["instanceCount"], hyperparameters=row["hyperParameters"],
                     cost=float(row[measure]), mse=float(row["testMse"]),
                     training_seconds=float(row["trainingTimeInSeconds"]))


def _summary_of(candidate: Candidate) -> SweepRecommended:
    return {"point": candidate.point, "distributionType": candidate.distribution_type,
            "instanceCount": candidate.instance_count, "hyperParameters": dict(candidate.hyperparameters),
            "cost": candidate.cost, "testMse": candidate.mse}


# --- the report -------------------------------------------------------------------------------------------


def build_sweep_report(request: SweepReportEvent, reports: Sequence[Mapping[str, Any]], *, clock: str,
                       now: Callable[[], datetime.datetime]) -> dict[str, Any]:
    """report.json's content (its shape: docs/ARCHITECTURE.md "Sweep report")."""
    points = request.sweep["points"]
    rows = [row for order, (point, report) in enumerate(zip(points, reports, strict=True))
            for row in point_rows(point, order, report,
                                  uri=f"s3://{request.bucket}/{point_report_key(point)}")]
    add_speed_ups(rows)
    measure = cost_measure(reports)
    candidates = [candidate_of(row, measure) for row in rows]
    frontier = pareto_frontier(candidates)
    on_frontier = {(c.point, c.branch) for c in frontier}
    for row in rows:
        row["pareto"] = (row["point"], row["branch"]) in on_frontier
    recommended, best = recommend(candidates)
    parameters = reports[0].get("parameters", {})
    swept = [name for name in SWEPT_HYPERPARAMETERS if name in request.sweep["grid"].get("hyperParameters", {})]
    totals = [float(total) for report in reports if (total := (report.get("cost") or {}).get("totalUsd")) is not None]
    first_cost = reports[0].get("cost") or {}
    return {
        "format": SWEEP_REPORT_FORMAT,
        "kind": SWEEP_KIND,
        "runId": request.run_id,
        "generatedAt": now().isoformat(),
        "grid": request.sweep["grid"],
        "parameters": {key: parameters.get(key) for key in ("trainYears", "testYear", "trainingInstanceType",
                                                               "hostingInstanceType", "useSpotInstances")},
        "clock": clock,
        "costMeasure": measure,
        "points": rows,
        "pareto": [{**_summary_of(c), "label": c.label} for c in frontier],
        "recommended": _summary_of(recommended),
        "bestMse": _summary_of(best),
        "recommendation": recommendation_sentence(
            recommended, best, measure=measure, train_years=parameters.get("trainYears", []),
            test_year=parameters.get("testYear", 0), swept=swept),
        "concurrency": request.concurrency,
        "costProjection": request.cost_projection,
        "totalUsd": round(math.fsum(totals), 4) if len(totals) == len(reports) else None,
        "priceSource": first_cost.get("priceSource"),
        "chart": CHART_NAME,
    }


def chart_data(report: Mapping[str, Any]) -> SweepChartData:
    """The three panels' points: speed-up against instances (at the first point's hyperparameters), test MSE
    against epochs (at the largest instance count and the first point's mini_batch_size), cost against MSE."""
    rows = report["points"]
    first = rows[0]["hyperParameters"]
    largest = max(row["instanceCount"] for row in rows)
    speed_up: dict[str, list[tuple[float, float]]] = {branch: [] for branch in BRANCHES}
    by_epochs: dict[str, list[tuple[float, float]]] = {branch: [] for branch in BRANCHES}
    costs: dict[str, list[tuple[float, float]]] = {branch: [] for branch in BRANCHES}
    for row in rows:
        hyperparameters = row["hyperParameters"]
        if hyperparameters == first and row["speedUp"] is not None:
            speed_up[row["branch"]].append((row["instanceCount"], row["speedUp"]))
        if (row["instanceCount"] == largest and "epochs" in hyperparameters
                and hyperparameters.get("mini_batch_size") == first.get("mini_batch_size")):
            by_epochs[row["branch"]].append((float(hyperparameters["epochs"]), row["testMse"]))
        costs[row["branch"]].append((row[report["costMeasure"]], row["testMse"]))
    instances = sorted({n for series in speed_up.values() for n, _ in series})
    smallest = instances[0] if instances else 1
    recommended = report["recommended"]
    slice_label = ", ".join(f"{name} {value}" for name, value in first.items())
    return SweepChartData(
        run_id=report["runId"],
        recommendation=report["recommendation"],
        speed_up={branch: sorted(series) for branch, series in speed_up.items()},
        ideal=[(n, n / smallest) for n in instances],
        speed_up_title=f"Speed-up against instances ({slice_label})" if slice_label else "Speed-up against instances",
        mse_by_epochs={branch: sorted(series) for branch, series in by_epochs.items()},
        mse_title=f"Test MSE against epochs ({largest} instances)",
        costs=costs,
        frontier=[(c["cost"], c["testMse"]) for c in report["pareto"]],
        recommended=(recommended["cost"], recommended["testMse"]),
        cost_axis="USD" if report["costMeasure"] == USD else "billable instance-seconds",
        note="Times: the simulated cluster's (local mode)" if report["clock"] == SIMULATED_CLOCK else "",
    )


def _cell(value: Any, digits: int = 4) -> str:
    return number_cell(value, digits, thousands=True)


def render_sweep_markdown(report: Mapping[str, Any]) -> str:
    measure = report["costMeasure"]
    lines = [
        f"# shardlab sweep, run `{report['runId']}`",
        "",
        f"**{report['recommendation']}**",
        "",
        f"![speed-up against instances, test MSE against epochs, cost against test MSE]({report['chart']})",
        "",
    ]
    if report["clock"] == SIMULATED_CLOCK:
        lines += [f"_{SIMULATED_NOTE}_", ""]
    lines += [
        "| point | type | instances | hyperparameters | training time (s) | speed-up | billable instance-seconds "
        "| USD | test MSE | test MAE | Pareto |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["points"]:
        hyperparameters = ", ".join(f"{name} {value}" for name, value in row["hyperParameters"].items())
        usd = "n/a" if row["usd"] is None else f"{row['usd']:.4f}"
        lines.append(
            f"| {row['point']} | {row['distributionType']} | {row['instanceCount']} | {hyperparameters} | "
            f"{_cell(row['trainingTimeInSeconds'])} | {_cell(row['speedUp'], 3)} | "
            f"{_cell(row['billableInstanceSeconds'])} | {usd} | {_cell(row['testMse'])} | {_cell(row['testMae'])} | "
            f"{'yes' if row['pareto'] else ''} |"
        )
    lines += ["", "Speed-up: FullyReplicated's training time at the smallest instance count with the same "
                  "hyperparameters over the row's.", "",
              f"## Pareto frontier (cost in {'USD' if measure == USD else 'billable instance-seconds'} "
              "against test MSE)", ""]
    lines += [f"- {c['label']}, {_instances(c['instanceCount'])}: {format_cost(c['cost'], measure)}, test MSE "
              f"{c['testMse']:.4g}" for c in report["pareto"]]
    lines += ["", "## Run", ""]
    concurrency = report.get("concurrency") or {}
    if concurrency.get("note"):
        lines.append(f"- Concurrency: {concurrency['note']}")
    elif concurrency:
        lines.append(f"- Concurrency: {concurrency.get('concurrency')} of {concurrency.get('points')} points at once")
    if report["totalUsd"] is not None:
        projected = (report.get("costProjection") or {}).get("worstCaseUsd")
        worst = "" if projected is None else f" (pre-flight worst case ${projected:.4f})"
        lines.append(f"- Cost: ${report['totalUsd']:.4f} for the whole sweep{worst}; prices: {report['priceSource']}")
    else:
        lines.append("- Cost: not priced (a point's report could not price its jobs: see its report.md); the "
                     "frontier uses billable instance-seconds")
    lines += ["- Each point's own report: " + ", ".join(
        f"[{row['point']}]({row['report']})" for row in report["points"][::2])]
    return "\n".join(lines) + "\n"


def write_sweep_report(s3: Any, bucket: str, run_prefix: str, report: Mapping[str, Any]) -> dict[str, str]:
    """sweep.png, report.md, then report.json last (its presence means the report is complete)."""
    keys = {"chart": f"{run_prefix}{CHART_NAME}", "markdown": f"{run_prefix}report.md",
            "json": f"{run_prefix}report.json"}
    s3.put_object(Bucket=bucket, Key=keys["chart"], Body=sweep_png(chart_data(report)), ContentType="image/png")
    s3.put_object(Bucket=bucket, Key=keys["markdown"], Body=render_sweep_markdown(report).encode(),
                  ContentType=MARKDOWN)
    s3.put_object(Bucket=bucket, Key=keys["json"],
                  Body=json.dumps(report, indent=2, sort_keys=True, allow_nan=False).encode(), ContentType=JSON)
    return {kind: f"s3://{bucket}/{key}" for kind, key in keys.items()}


def run_sweep_report(request: SweepReportEvent, *, s3: Any, clock: str = SAGEMAKER_CLOCK,
                     now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
                     ) -> SweepReportResult:
    """Read every point's report, then write the sweep's; returns the summary. ``clock``: ``simulated`` when the
    training times are local mode's simulated cluster's (report.md and sweep.png say so)."""
    reports = read_point_reports(s3, request.bucket, request.run_id, request.sweep["points"])
    report = build_sweep_report(request, reports, clock=clock, now=now)
    locations = write_sweep_report(s3, request.bucket, request.run_prefix, report)
    return {
        "runId": request.run_id,
        "recommendation": report["recommendation"],
        "recommended": report["recommended"],
        "report": locations,
        "points": len(request.sweep["points"]),
        "concurrency": int(request.concurrency.get("concurrency", 0)),
        "costMeasure": report["costMeasure"],
        "totalUsd": report["totalUsd"],
    }
