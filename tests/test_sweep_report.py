"""The sweep report (lambdas.compare.sweep): the Pareto frontier and the recommendation on hand-made candidates,
then the whole report from hand-made point reports in moto S3 (each built by the compare step's own report and
cost functions), its picture read back by Pillow."""

from __future__ import annotations

import io
import json
from typing import Any

import chart_helpers
import pytest
from moto_helpers import mocked_s3
from sweep_helpers import BUCKET, CONCURRENCY, START, point_report, put_point_reports, run_config

from lambdas.compare import handler as compare_handler
from lambdas.compare import sweep
from lambdas.compare.chart import FONT, SERIES_COLORS
from lambdas.compare.sweep import INSTANCE_SECONDS, USD, Candidate, SweepReportError
from lambdas.compare.sweep_chart import FRONTIER_RING, RECOMMENDED_RING, panels
from lambdas.lambda_common.contracts import SweepReportEvent
from lambdas.lambda_common.vocabulary import BRANCHES, REPLICATED, SHARDED


def candidate(point: str, branch: str, cost: float, mse: float, *, instances: int = 1, epochs: str = "2",
              order: int | None = None, seconds: float = 100.0) -> Candidate:
    return Candidate(point=point, order=int(point[1:]) - 1 if order is None else order, branch=branch,
                     instance_count=instances, hyperparameters={"epochs": epochs}, cost=cost, mse=mse,
                     training_seconds=seconds)


def labels(candidates: list[Candidate]) -> list[str]:
    return [c.label for c in candidates]


# --- Pareto frontier and recommendation ---------------------------------------------------------------------


def test_the_frontier_is_every_candidate_no_other_beats_on_both() -> None:
    candidates = [
        candidate("p01", REPLICATED, 1.00, 5.00), candidate("p01", SHARDED, 0.40, 5.30),
        candidate("p02", REPLICATED, 1.20, 4.90), candidate("p02", SHARDED, 0.50, 5.30),  # same MSE, dearer
        candidate("p03", REPLICATED, 2.00, 4.95), candidate("p03", SHARDED, 0.45, 5.10),
    ]
    assert labels(sweep.pareto_frontier(candidates)) == [
        "p01 ShardedByS3Key", "p03 ShardedByS3Key", "p01 FullyReplicated", "p02 FullyReplicated"]


def test_equal_candidates_are_both_on_the_frontier_and_the_tie_breaks_pick_one() -> None:
    twins = [candidate("p02", SHARDED, 0.5, 5.0, instances=2), candidate("p01", REPLICATED, 0.5, 5.0),
             candidate("p01", SHARDED, 0.5, 5.0)]
    assert labels(sweep.pareto_frontier(twins)) == ["p01 FullyReplicated", "p01 ShardedByS3Key", "p02 ShardedByS3Key"]
    recommended, best = sweep.recommend(twins)
    assert recommended == best == twins[1]  # fewer instances, then grid order, then FullyReplicated first
    faster = [*twins, candidate("p03", SHARDED, 0.5, 5.0, instances=3, seconds=50.0)]
    assert sweep.recommend(faster)[0].point == "p03"  # equal cost and MSE: the shorter training wins


def test_one_point_recommends_the_cheaper_type_within_one_percent() -> None:
    pair = [candidate("p01", REPLICATED, 1.62, 5.03, instances=5), candidate("p01", SHARDED, 0.41, 5.06, instances=5)]
    recommended, best = sweep.recommend(pair)
    assert (recommended.branch, best.branch) == (SHARDED, REPLICATED)
    assert sweep.recommendation_sentence(
        recommended, best, measure=USD, train_years=[1979, 1980, 1981, 1982, 1983], test_year=1984,
        swept=["epochs"],
    ) == ("On these years (training 1979-1983, test 1984), ShardedByS3Key on 5 instances with 2 epochs is the "
          "cheapest configuration within 1% of the best test MSE ($0.41 vs $1.62; test MSE 5.06 vs 5.03).")
    # 1% is relative to the best MSE: 5.03 * 1.01 = 5.0803, so 5.09 is out and the best is recommended
    out = [pair[0], candidate("p01", SHARDED, 0.41, 5.09, instances=5)]
    assert sweep.recommend(out) == (out[0], out[0])


def test_all_equal_mse_recommends_the_cheapest_which_has_the_best_mse_itself() -> None:
    same = [candidate(f"p0{i}", branch, cost, 4.2, instances=i)
            for i, cost in ((1, 0.9), (2, 0.3), (3, 0.6)) for branch in BRANCHES]
    assert labels(sweep.pareto_frontier(same)) == ["p02 FullyReplicated", "p02 ShardedByS3Key"]
    recommended, best = sweep.recommend(same)
    assert recommended == best and recommended.label == "p02 FullyReplicated"
    sentence = sweep.recommendation_sentence(recommended, best, measure=USD, train_years=[1979, 1981],
                                             test_year=1982)
    assert sentence == ("On these years (training 1979, 1981, test 1982), FullyReplicated on 2 instances with 2 "
                        "epochs is the cheapest configuration within 1% of the best test MSE, and has that best "
                        "test MSE itself ($0.30; test MSE 4.2).")


def test_a_zero_cost_is_the_cheapest_and_recommended_only_within_the_tolerance() -> None:
    free = [candidate("p01", REPLICATED, 0.8, 5.00), candidate("p01", SHARDED, 0.0, 5.04)]
    recommended, best = sweep.recommend(free)
    assert recommended.cost == 0.0 and best.label == "p01 FullyReplicated"
    assert "($0 vs $0.80; test MSE 5.04 vs 5)" in sweep.recommendation_sentence(
        recommended, best, measure=USD, train_years=[1979], test_year=1980)
    too_poor = [free[0], candidate("p01", SHARDED, 0.0, 5.2)]
    assert labels(sweep.pareto_frontier(too_poor)) == ["p01 ShardedByS3Key", "p01 FullyReplicated"]
    assert sweep.recommend(too_poor)[0].label == "p01 FullyReplicated"
    all_free = [candidate("p01", REPLICATED, 0.0, 5.0), candidate("p01", SHARDED, 0.0, 5.0)]
    assert sweep.recommend(all_free)[0].label == "p01 FullyReplicated"


def test_a_best_mse_of_zero_admits_only_zero() -> None:
    perfect = [candidate("p01", REPLICATED, 2.0, 0.0), candidate("p01", SHARDED, 0.1, 1e-9)]
    assert sweep.recommend(perfect)[0].label == "p01 FullyReplicated"


def test_without_prices_the_sentence_counts_instance_seconds() -> None:
    pair = [candidate("p01", REPLICATED, 2000, 5.0, instances=5), candidate("p01", SHARDED, 500, 5.01, instances=5)]
    recommended, best = sweep.recommend(pair)
    sentence = sweep.recommendation_sentence(recommended, best, measure=INSTANCE_SECONDS, train_years=[1979],
                                             test_year=1980, swept=["epochs", "mini_batch_size"])
    assert "is the cheapest (in billable instance-seconds) configuration" in sentence
    assert "(500 instance-seconds vs 2,000 instance-seconds; test MSE 5.01 vs 5)" in sentence


# --- the report from point reports in S3 --------------------------------------------------------------------

def request_for(config: dict[str, Any], **given: Any) -> SweepReportEvent:
    return SweepReportEvent.for_run(config, **{"concurrency": CONCURRENCY, **given})


def read(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_the_sweep_report_from_every_points_report(monkeypatch: pytest.MonkeyPatch) -> None:
    config = run_config()
    projection = {"worstCaseUsd": 12.5, "points": [{"point": "p01", "worstCaseUsd": 1.0}]}
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config)
        result = sweep.run_sweep_report(request_for(config, cost_projection=projection), s3=s3,
                                        clock=sweep.SIMULATED_CLOCK, now=lambda: START)
        report = json.loads(read(s3, f"{config['runPrefix']}report.json"))
        markdown = read(s3, f"{config['runPrefix']}report.md").decode()
        png = read(s3, f"{config['runPrefix']}sweep.png")

    assert (report["kind"], report["format"], report["costMeasure"]) == ("sweep", "shardlab-sweep-report/1", USD)
    rows = {(row["point"], row["branch"]): row for row in report["points"]}
    assert len(rows) == 12 and [row["point"] for row in report["points"]][:4] == ["p01", "p01", "p02", "p02"]
    p04 = rows["p04", SHARDED]
    assert (p04["instanceCount"], p04["hyperParameters"]) == (2, {"epochs": "4", "mini_batch_size": "500"})
    assert (p04["trainingTimeInSeconds"], p04["billableInstanceSeconds"], p04["testMse"]) == (380, 760, 4.92)
    assert p04["usd"] == pytest.approx(p04["trainingUsd"] + p04["scoringUsd"], abs=1e-4) and p04["scoringUsd"] > 0
    assert p04["speedUp"] == pytest.approx(800 / 380)  # FullyReplicated on 1 instance, 4 epochs: 800 s
    assert rows["p05", SHARDED]["speedUp"] == pytest.approx(400 / 95)
    assert report["totalUsd"] == pytest.approx(sum(row["usd"] for row in report["points"]), abs=1e-3)
    # the frontier worked out by hand from the table above (p01's two types tie: both are on it)
    assert [entry["label"] for entry in report["pareto"]] == [
        "p03 ShardedByS3Key", "p01 FullyReplicated", "p01 ShardedByS3Key", "p04 ShardedByS3Key",
        "p02 FullyReplicated", "p02 ShardedByS3Key"]
    assert {key for key, row in rows.items() if row["pareto"]} == {
        ("p03", SHARDED), ("p01", REPLICATED), ("p01", SHARDED), ("p04", SHARDED), ("p02", REPLICATED),
        ("p02", SHARDED)}
    assert (report["recommended"]["point"], report["recommended"]["distributionType"]) == ("p04", "ShardedByS3Key")
    assert (report["bestMse"]["point"], report["bestMse"]["distributionType"]) == ("p02", "FullyReplicated")
    best_usd = rows["p02", REPLICATED]["usd"]
    assert report["recommendation"] == (
        "On these years (training 1979-1981, test 1982), ShardedByS3Key on 2 instances with 4 epochs is the "
        f"cheapest configuration within 1% of the best test MSE ({sweep.format_cost(p04['usd'], USD)} vs "
        f"{sweep.format_cost(best_usd, USD)}; test MSE 4.92 vs 4.9).")
    assert report["concurrency"] == CONCURRENCY and report["costProjection"] == projection
    assert report["clock"] == "simulated" and report["parameters"]["testYear"] == 1982

    assert result == {
        "runId": config["runId"], "recommendation": report["recommendation"], "recommended": report["recommended"],
        "report": {kind: f"s3://{BUCKET}/{config['runPrefix']}{name}" for kind, name in
                   (("chart", "sweep.png"), ("markdown", "report.md"), ("json", "report.json"))},
        "points": 6, "concurrency": 2, "costMeasure": USD, "totalUsd": report["totalUsd"],
    }

    assert f"**{report['recommendation']}**" in markdown and "![" in markdown and "(sweep.png)" in markdown
    assert sweep.SIMULATED_NOTE in markdown
    assert "| p04 | ShardedByS3Key | 2 | epochs 4, mini_batch_size 500 | 380 | 2.11 | 760 |" in markdown
    assert "- p04 ShardedByS3Key, 2 instances:" in markdown and "- p01 FullyReplicated, 1 instance: $0.0" in markdown
    assert "runs 2 of 6 points at once" in markdown and "pre-flight worst case $12.5000" in markdown
    check_picture(png, report)


def check_picture(png: bytes, report: dict[str, Any]) -> None:
    """sweep.png decodes; each panel shows its numbers where its axes put them."""
    image = chart_helpers.decoded(png)
    data = sweep.chart_data(report)
    speed, epochs, cost = panels(data)

    def color_at(panel: Any, point: tuple[float, float]) -> Any:
        return image.getpixel((round(panel.x(point[0])), round(panel.y(point[1]))))

    # speed-up at 2 epochs: ShardedByS3Key 400/190 on 2 and 400/95 on 4 instances, FullyReplicated 1.0 on 4
    assert data.ideal == [(1, 1.0), (2, 2.0), (4, 4.0)]
    assert color_at(speed, (4, 400 / 95)) == SERIES_COLORS[SHARDED]
    assert color_at(speed, (2, 400 / 190)) == SERIES_COLORS[SHARDED]
    assert color_at(speed, (4, 1.0)) == SERIES_COLORS[REPLICATED]
    # test MSE against epochs on 4 instances
    assert data.mse_by_epochs == {REPLICATED: [(2.0, 5.0), (4.0, 4.9)], SHARDED: [(2.0, 5.2), (4.0, 4.97)]}
    for branch, series in data.mse_by_epochs.items():
        for point in series:
            assert color_at(epochs, point) == SERIES_COLORS[branch]
    # cost against MSE: p05's ShardedByS3Key is off the frontier (no ring), p03's is on it (ringed)
    rows = {(row["point"], row["branch"]): row for row in report["points"]}

    def at(key: tuple[str, str], dx: int = 0) -> Any:
        row = rows[key]
        return image.getpixel((round(cost.x(row["usd"])) + dx, round(cost.y(row["testMse"]))))

    assert at(("p05", SHARDED)) == SERIES_COLORS[SHARDED] and at(("p05", SHARDED), FRONTIER_RING) != (0, 0, 0)
    assert at(("p03", SHARDED)) == SERIES_COLORS[SHARDED] and at(("p03", SHARDED), FRONTIER_RING) == (0, 0, 0)
    assert at(("p04", SHARDED), RECOMMENDED_RING) == (0, 0, 0) and at(("p04", SHARDED), RECOMMENDED_RING + 2) == (
        0, 0, 0)
    assert at(("p06", REPLICATED)) == SERIES_COLORS[REPLICATED]


def test_the_picture_uses_only_characters_its_font_has() -> None:
    config = run_config()
    titles = [sweep.SIMULATED_NOTE, "Test MSE against cost (billable instance-seconds) of every point and type",
              "Speed-up against instances (epochs 2, mini_batch_size 500)", "Test MSE against epochs (4 instances)",
              "ideal linear speed-up", "Pareto frontier (ringed); recommended: double ring", "shardlab sweep, run "
              + config["runId"], "Times: the simulated cluster's (local mode)", "recommended"]
    missing = {char for title in titles for char in title if char not in FONT}
    assert not missing


def test_unpriced_points_are_costed_in_instance_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    config = run_config()
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config)
        key = f"{config['sweep']['points'][2]['config']['runPrefix']}report.json"
        unpriced = json.loads(read(s3, key))
        unpriced["cost"] = {"currency": "USD", "unpriced": "no price for ml.c5.2xlarge in xx-east-1",
                            "projected": None}
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(unpriced).encode())
        result = sweep.run_sweep_report(request_for(config), s3=s3, now=lambda: START)
        report = json.loads(read(s3, f"{config['runPrefix']}report.json"))
        markdown = read(s3, f"{config['runPrefix']}report.md").decode()
        chart_helpers.decoded(read(s3, f"{config['runPrefix']}sweep.png"))
    assert (result["costMeasure"], result["totalUsd"], report["clock"]) == (INSTANCE_SECONDS, None, "sagemaker")
    # in instance-seconds (no transform cost), p04 and p06 tie at 760 and p04's MSE is lower
    assert result["recommended"]["point"] == "p04" and result["recommended"]["cost"] == 760
    assert "(760 instance-seconds vs 800 instance-seconds; test MSE 4.92 vs 4.9)" in result["recommendation"]
    assert "- Cost: not priced" in markdown and sweep.SIMULATED_NOTE not in markdown


def test_a_missing_or_foreign_point_report_is_refused_naming_the_point(monkeypatch: pytest.MonkeyPatch) -> None:
    config = run_config()
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config, skip="p05")
        with pytest.raises(SweepReportError, match=r"sweep point p05 has no report: s3://.*/points/p05/report.json "
                                                   "does not exist"):
            sweep.run_sweep_report(request_for(config), s3=s3)
        p05 = config["sweep"]["points"][4]
        wrong = point_report(config, {**p05, "instanceCount": 2, "config": {**p05["config"], "instanceCount": 2}})
        s3.put_object(Bucket=BUCKET, Key=f"{p05['config']['runPrefix']}report.json", Body=json.dumps(wrong).encode())
        with pytest.raises(SweepReportError, match=r"sweep point p05: .* reports 2 FullyReplicated instances; "
                                                   r"the point has 4"):
            sweep.run_sweep_report(request_for(config), s3=s3)
        other_run = {**point_report(config, p05), "runId": "other-1234abcd"}
        s3.put_object(Bucket=BUCKET, Key=f"{p05['config']['runPrefix']}report.json",
                      Body=json.dumps(other_run).encode())
        with pytest.raises(SweepReportError, match="is the report of run 'other-1234abcd', not of run 'sweep-test-"):
            sweep.run_sweep_report(request_for(config), s3=s3)
        assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{config['runPrefix']}report")


def test_the_event_is_the_run_configs_sweep_and_the_preflights_concurrency() -> None:
    config = run_config()
    event = request_for(config).as_json()
    assert set(event) == {"bucket", "runPrefix", "runId", "sweep", "concurrency"}
    assert SweepReportEvent.config_keys() == ["bucket", "runPrefix", "runId", "sweep"]
    with pytest.raises(SweepReportError, match="sweep must be an object, got None"):
        SweepReportEvent.parse({**event, "sweep": None}, error=SweepReportError)  # a run without a sweep
    with pytest.raises(SweepReportError, match=r"concurrency\.concurrency must be an integer of at least 1, got 0"):
        SweepReportEvent.parse({**event, "concurrency": {"points": 6, "concurrency": 0}}, error=SweepReportError)
    points = config["sweep"]["points"]
    elsewhere = [{**points[0], "config": {**points[0]["config"], "runPrefix": "runs/other/points/p01/"}}]
    with pytest.raises(SweepReportError, match="sweep point p01's runPrefix 'runs/other/points/p01/' is not below"):
        SweepReportEvent.parse({**event, "sweep": {**config["sweep"], "points": elsewhere}}, error=SweepReportError)
    with pytest.raises(SweepReportError, match=r"sweep.points\[1\]: point id 'p01' is given twice"):
        SweepReportEvent.parse({**event, "sweep": {**config["sweep"], "points": [points[0], points[0]]}},
                               error=SweepReportError)
    with pytest.raises(SweepReportError, match=r"sweep.points must be a list of 1 to 24 points"):
        SweepReportEvent.parse({**event, "sweep": {**config["sweep"], "points": []}}, error=SweepReportError)


def test_the_summary_of_the_largest_sweep_is_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """24 points (the most a sweep may have): the state output gets well under 16 KB."""
    config = run_config()
    template = config["sweep"]["points"][0]
    points = [{**template, "point": f"p{i:02d}", "config": {**template["config"],
                                                            "runPrefix": f"{config['runPrefix']}points/p{i:02d}/"}}
              for i in range(1, 25)]
    config["sweep"] = {**config["sweep"], "points": points}
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config)
        result = sweep.run_sweep_report(request_for(config), s3=s3)
    assert result["points"] == 24 and len(json.dumps(result).encode()) < 4_000


def test_the_handler_labels_local_modes_times_as_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compare_handler.training_clock({"AWS_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:49152"}) == "simulated"
    assert compare_handler.training_clock({"AWS_ENDPOINT_URL_SAGEMAKER": "http://localhost:8080"}) == "simulated"
    assert compare_handler.training_clock({}) == "sagemaker"
    assert compare_handler.training_clock(
        {"AWS_ENDPOINT_URL_SAGEMAKER": "https://api.sagemaker.us-east-1.amazonaws.com"}) == "sagemaker"
    config = run_config()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:1")
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config)
        result = compare_handler.sweep_report(request_for(config).as_json(), None)
        assert json.loads(read(s3, f"{config['runPrefix']}report.json"))["clock"] == "simulated"
        with pytest.raises(SweepReportError, match="unknown key"):
            compare_handler.sweep_report({**request_for(config).as_json(), "sweeps": {}}, None)
    assert result["recommended"]["point"] == "p04"


def test_matplotlib_reads_sweep_png_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import image as mpimg

    config = run_config()
    with mocked_s3(monkeypatch, BUCKET) as s3:
        put_point_reports(s3, config)
        sweep.run_sweep_report(request_for(config), s3=s3)
        pixels = mpimg.imread(io.BytesIO(read(s3, f"{config['runPrefix']}sweep.png")), format="png")
    assert pixels.shape[2] == 3 and 0.0 <= pixels.min() < pixels.max() == 1.0
