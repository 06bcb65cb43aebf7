"""Benchmark: the demo sweep (``make demo-sweep``: ``python -m local run --sweep --scale 0.2``) end to end.

Runs, each as its own process exactly as a user would (synth, local AWS, data, the state machine, report), round
by round so both see the same load:

- baseline ("single"): ``python -m local run --scale 0.2``, the default single run (``make demo``) on the same
  generated years;
- candidate ("sweep"): ``python -m local run --sweep --scale 0.2``: instanceCount 1, 2, 5 x epochs 2, 4, both
  distribution types at every point (12 training and 12 transform jobs) on one shared dataset.

Prints each round's wall times and the sweep's ratio to the single run (median over rounds), then what the
sweep's report says: per point and type the simulated training time, billable instance-seconds, dollars and test
MSE, the speed-up of ShardedByS3Key over FullyReplicated per instance count, the concurrency the pre-flight
allowed, and the recommendation. Exits 1 if a run fails or the sweep's median wall time misses its target
(``bench/results.py``: under 5 minutes on 2 cores). ``--record`` writes the figure to ``bench/results.json``.

Usage: ``python bench/bench_sweep.py [--rounds N] [--skip-baseline] [--record]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from results import TARGETS, check, figure, load_average, record, run_local  # noqa: E402

SCALE = "0.2"


def run(kind: str, out: Path, round_number: int) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Wall seconds of one ``python -m local run``, its report.json and its execution output."""
    seconds, folder = run_local(ROOT, out, f"bench-{kind}-{round_number}-{int(time.time())}", "--scale", SCALE,
                                *(["--sweep"] if kind == "sweep" else []))
    return (seconds, json.loads((folder / "report.json").read_text()),
            json.loads((folder / "execution-output.json").read_text()))


def describe_sweep(report: dict[str, Any], output: dict[str, Any]) -> None:
    summary = output.get("summary", {})
    print("sweep report (times are the simulated cluster's, local/linear_learner/cluster_time.py):")
    print(f"  {'point':5} {'n':>3} {'epochs':>6} {'type':15} {'train s':>8} {'inst-s':>8} {'USD':>8} {'test MSE':>9}")
    for row in report["points"]:
        hyper = row.get("hyperParameters") or {}
        print(f"  {row['point']:5} {row['instanceCount']:>3} {hyper.get('epochs', '-'):>6} "
              f"{row['distributionType']:15} {row['trainingTimeInSeconds']:>8} {row['billableInstanceSeconds']:>8} "
              f"{_money(row.get('usd')):>8} {row['testMse']:>9.4f}")
    print(f"  concurrency: {report.get('concurrency', {}).get('note') or summary.get('concurrency')}")
    print(f"  recommendation: {summary.get('recommendation')}")


def _money(value: Any) -> str:
    return "-" if value is None else f"${value:.4f}"


def speed_ups(report: dict[str, Any]) -> dict[int, float]:
    """Per instance count (at the grid's first epochs): FullyReplicated training time / ShardedByS3Key's."""
    first_epochs = min(str((row.get("hyperParameters") or {}).get("epochs", "")) for row in report["points"])
    times: dict[tuple[int, str], float] = {}
    for row in report["points"]:
        if str((row.get("hyperParameters") or {}).get("epochs", "")) == first_epochs:
            times[row["instanceCount"], row["distributionType"]] = row["trainingTimeInSeconds"]
    ups = {}
    for count in sorted({n for n, _ in times}):
        sharded = times.get((count, "ShardedByS3Key"))
        if sharded:
            ups[count] = times[count, "FullyReplicated"] / sharded
    return ups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=1, help="baseline + sweep rounds (default 1)")
    parser.add_argument("--skip-baseline", action="store_true", help="only the sweep")
    parser.add_argument("--record", action="store_true", help="write the figure to bench/results.json")
    args = parser.parse_args(argv)
    load_before, bench_started = load_average(), time.perf_counter()
    print(f"load average (1 min) before: {load_before:.1f}, {os.cpu_count()} CPUs")
    sweep_seconds: list[float] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as scratch:
        for number in range(1, args.rounds + 1):
            single = None if args.skip_baseline else run("single", Path(scratch), number)
            seconds, report, output = run("sweep", Path(scratch), number)
            sweep_seconds.append(seconds)
            line = f"round {number}: sweep {seconds:.1f} s"
            if single is not None:
                ratios.append(seconds / single[0])
                line += f", single run {single[0]:.1f} s, ratio {ratios[-1]:.2f}x"
            print(line)
    describe_sweep(report, output)
    ups = speed_ups(report)
    print("ShardedByS3Key training speed-up over FullyReplicated by instances: "
          + ", ".join(f"{n}: {up:.2f}x" for n, up in ups.items()))
    points = len({row["point"] for row in report["points"]})
    per_point = statistics.median(sweep_seconds) / points
    if ratios:
        print(f"sweep wall / single-run wall: median {statistics.median(ratios):.2f}x over {len(ratios)} round(s) "
              f"({points} points, {per_point:.1f} s wall per point)")
    print(f"sweep: median {statistics.median(sweep_seconds):.1f} s (target {TARGETS['demo_sweep'].text()})")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.1f}")
    ratio = f"{statistics.median(ratios):.2f}x the single run's wall time; " if ratios else ""
    figures = [
        figure(
            "demo_sweep",
            sweep_seconds,
            label="`python -m local run --sweep --scale 0.2` (6 points x 2 types) end to end, as its own process",
            baseline="`python -m local run --scale 0.2` (one point), same script",
            detail=(f"wall; {ratio}{points} points; ShardedByS3Key speed-up "
                    + ", ".join(f"{up:.2f}x on {n}" for n, up in ups.items())),
        )
    ]
    if args.record:
        record("bench_sweep.py", figures, load_before=load_before, seconds=time.perf_counter() - bench_started)
    return check(figures)


if __name__ == "__main__":
    sys.exit(main())
