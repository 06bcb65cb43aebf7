"""Benchmark: the true-scale local run (``python -m local run --scale full``, ``make demo-full``) end to end.

Runs, each as its own process exactly as a user would (synth, local AWS, data, the state machine, report):

- baseline ("sample"): ``python -m local run`` on the bundled real sample;
- candidate ("full"): ``python -m local run --scale full``: six years of 430,941 rows generated from each
  year's own bundled rows (data/scale_up.py), then the same state machine.

Prints each run's wall time and the full run's ratio to the sample run, then what the full run's report
says: training time of both jobs (simulated cluster, local/linear_learner/cluster_time.py ClusterModel) and their ratio,
both test MSEs, and the rows each ShardedByS3Key host trained on (shard planner: equal within 1%).
Exits 1 if the full run fails, misses its target (``bench/results.py``: under 5 minutes on 2 cores), or the
per-host rows differ by more than 1%. ``--record`` writes the figure to ``bench/results.json``.

Usage: ``python bench/bench_demo_full.py [--skip-baseline] [--record]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from results import TARGETS, check, figure, load_average, record, run_local  # noqa: E402

from lambdas.lambda_common.vocabulary import BRANCHES, REPLICATED, SHARDED, SHARDED_BY_S3_KEY  # noqa: E402


def run(scale: str, out: Path) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``python -m local run --scale <scale>`` and its report.json."""
    seconds, folder = run_local(ROOT, out, f"bench-{scale}", "--scale", scale)
    return seconds, json.loads((folder / "report.json").read_text())


def describe(name: str, seconds: float, report: dict[str, Any]) -> None:
    models = report["models"]
    times = {branch: models[branch]["training"]["trainingTimeInSeconds"] for branch in BRANCHES}
    mse = {branch: models[branch]["test"]["mse"] for branch in BRANCHES}
    print(
        f"{name:<6}: {seconds:6.1f} s wall; {report['testData']['rows']:,} test rows; training time "
        f"FullyReplicated {times[REPLICATED]} s, ShardedByS3Key {times[SHARDED]} s "
        f"(ratio {times[REPLICATED] / times[SHARDED]:.2f}x); test MSE {mse[REPLICATED]:.5f} vs "
        f"{mse[SHARDED]:.5f}"
    )
    print(f"        verdict: {report['verdict']}")


def host_rows(report: dict[str, Any]) -> list[int]:
    return [host["rows"] for host in report.get("hosts", {}).get(SHARDED_BY_S3_KEY, [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--skip-baseline", action="store_true", help="only the full-size run")
    parser.add_argument("--record", action="store_true", help="write the figure to bench/results.json")
    args = parser.parse_args(argv)
    load_before, bench_started = load_average(), time.perf_counter()
    print(f"load average (1 min) before: {load_before:.1f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-demo-full-") as scratch:
        baseline = None if args.skip_baseline else run("sample", Path(scratch))
        full_seconds, full = run("full", Path(scratch))
    if baseline is not None:
        describe("sample", *baseline)
    describe("full", full_seconds, full)
    failures = []
    if baseline is not None:
        print(f"full-size run wall / sample run wall: {full_seconds / baseline[0]:.2f}x")
    print(f"full-size run: {full_seconds:.1f} s (target {TARGETS['demo_full'].text()})")
    rows = host_rows(full)
    print(f"rows per ShardedByS3Key host: {rows}")
    if not rows or (max(rows) - min(rows)) > 0.01 * max(rows):
        failures.append(f"per-host rows not equal within 1%: {rows}")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.1f}")
    for failure in failures:
        print("MISSED:", failure)
    models = full["models"]
    times = {branch: models[branch]["training"]["trainingTimeInSeconds"] for branch in BRANCHES}
    sample = f"{full_seconds / baseline[0]:.1f}x the sample run's {baseline[0]:.0f} s; " if baseline else ""
    figures = [
        figure(
            "demo_full",
            [full_seconds],
            label="`python -m local run --scale full` end to end, as its own process",
            baseline="`python -m local run` on the bundled sample, same script",
            detail=(
                f"wall; {sample}training time FullyReplicated / ShardedByS3Key "
                f"{times[REPLICATED] / times[SHARDED]:.2f}x; rows per ShardedByS3Key host within "
                f"{max(rows) - min(rows) if rows else 0} rows"
            ),
        )
    ]
    if args.record:
        record("bench_demo_full.py", figures, load_before=load_before, seconds=time.perf_counter() - bench_started)
    return max(check(figures), 1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
