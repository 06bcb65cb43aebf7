"""bench/results.json: each benchmark's figures beside its target, the run that produced them, and the README table.

The targets live here and nowhere else: every bench checks its figures against ``TARGETS`` and records both,
``make bench`` writes what each bench measured into ``bench/results.json`` (with the machine, its load average,
the date and the commit), and README's benchmark table is ``render_table()`` of that file
(``tests/doc_tables.py`` rewrites it; ``tests/test_doc_tables.py`` fails when the two differ).

Ratios are taken round by round (baseline and candidate alternate, so both see the same load) and summarised
as the median, the spread (lowest to highest round) and the best round; the median is what meets the target.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().with_name("results.json")
RESULTS_FORMAT = "shardlab-bench-results/1"


@dataclass(frozen=True)
class Target:
    """A bound a figure must meet: ``value op bound`` (e.g. speed-up >= 3)."""

    op: str  # ">=", "<=" or "<"
    bound: float
    unit: str  # "x" (a ratio) or "s"

    def met(self, value: float) -> bool:
        return {">=": value >= self.bound, "<=": value <= self.bound, "<": value < self.bound}[self.op]

    def text(self) -> str:
        symbol = {">=": "≥", "<=": "≤", "<": "<"}[self.op]
        return f"{symbol} {self.bound:g}{' ' if self.unit == 's' else ''}{self.unit}"

    def best(self, values: Sequence[float]) -> float:
        """The best round: the highest of a speed-up, the lowest of a cost."""
        return max(values) if self.op == ">=" else min(values)


# The project's performance targets (issue 17), one row per recorded figure.
TARGETS: dict[str, Target] = {
    "compare": Target(">=", 3.0, "x"),
    "shard_s3": Target(">=", 3.0, "x"),
    "shard_file": Target(">=", 3.0, "x"),
    "shard_memory": Target("<=", 0.1, "x"),
    "demo_full": Target("<", 300.0, "s"),
    "demo_sweep": Target("<", 300.0, "s"),  # issue 19: `make demo-sweep` under 5 minutes on 2 cores
    # bench_shard_memory.py's own check: twice the extrapolated peak of the largest year fits the setting.
    "shard_memory_setting": Target("<=", 0.5, "x"),
}


def figure(name: str, rounds: Sequence[float], *, label: str, baseline: str, detail: str = "") -> dict[str, Any]:
    """One figure from its per-round values: median, spread, best, and whether the median meets its target."""
    if not rounds:
        raise ValueError(f"{name}: no rounds measured")
    target = TARGETS[name]
    median = statistics.median(rounds)
    return {
        "name": name,
        "label": label,
        "baseline": baseline,
        "median": round(median, 3),
        "spread": [round(min(rounds), 3), round(max(rounds), 3)],
        "best": round(target.best(rounds), 3),
        "rounds": [round(value, 3) for value in rounds],
        "unit": target.unit,
        "target": {"op": target.op, "bound": target.bound},
        "met": target.met(median),
        "detail": detail,
    }


def check(figures: Sequence[dict[str, Any]]) -> int:
    """Prints each figure against its target; 1 if any median misses it."""
    missed = 0
    for entry in figures:
        target = TARGETS[entry["name"]]
        line = (
            f"{entry['name']}: median {entry['median']:g}{target.unit} (spread {entry['spread'][0]:g}–"
            f"{entry['spread'][1]:g}, best {entry['best']:g}, {_rounds(entry)}), target {target.text()}"
        )
        if target.met(entry["median"]):
            print("MET " + line)
        else:
            print("UNDER TARGET " + line)
            missed = 1
    return missed


def run_local(root: Path, out: Path, name: str, *arguments: str) -> tuple[float, Path]:
    """Wall seconds of one ``python -m local run`` as its own process (as a user runs it) and its output folder;
    a failed run prints the end of its output and exits."""
    command = [sys.executable, "-m", "local", "run", "--out", str(out), "--name", name, *arguments]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        print(finished.stdout[-4000:], finished.stderr[-4000:], sep="\n")
        raise SystemExit(f"python -m local run {' '.join(arguments)} failed with exit code {finished.returncode}")
    return seconds, out / name


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    memory_kib = next((int(line.split()[1]) for line in _lines("/proc/meminfo") if line.startswith("MemTotal:")), 0)
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memoryGiB": round(memory_kib / 2**20, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def commit() -> str:
    """HEAD's short hash, with "+changes" when the work tree differs from it."""
    root = RESULTS_PATH.parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def read_results(path: Path = RESULTS_PATH) -> dict[str, Any]:
    if not path.exists():
        return {"format": RESULTS_FORMAT, "benchmarks": {}}
    results: dict[str, Any] = json.loads(path.read_text())
    if results.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not a {RESULTS_FORMAT} file")
    return results


def record(
    bench: str,
    figures: Sequence[dict[str, Any]],
    *,
    load_before: float,
    seconds: float,
    path: Path = RESULTS_PATH,
) -> None:
    """Replaces ``bench``'s entry in results.json with these figures and the run that produced them."""
    results = read_results(path)
    results["benchmarks"][bench] = {
        "date": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        "commit": commit(),
        "machine": machine(),
        "loadAverage": {"before": load_before, "after": load_average()},
        "seconds": round(seconds, 1),
        "figures": list(figures),
    }
    results["benchmarks"] = dict(sorted(results["benchmarks"].items()))
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded in {path.relative_to(path.parents[1])}")


def _value(entry: dict[str, Any]) -> str:
    unit = entry["unit"]
    space = " " if unit == "s" else ""
    low, high = entry["spread"]
    return f"{entry['median']:g}{space}{unit} (spread {low:g}–{high:g}, best {entry['best']:g}, {_rounds(entry)})"


def _rounds(entry: dict[str, Any]) -> str:
    count = len(entry["rounds"])
    return f"{count} round{'' if count == 1 else 's'}"


def render_table(path: Path = RESULTS_PATH) -> str:
    """README's benchmark table: every recorded figure, its target and the run it comes from."""
    results = read_results(path)
    rows = [
        "| benchmark | figure | baseline | median | target | met |",
        "|---|---|---|---|---|---|",
    ]
    runs = []
    for bench, run in results["benchmarks"].items():
        for entry in run["figures"]:
            target = TARGETS[entry["name"]]
            detail = f" ({entry['detail']})" if entry["detail"] else ""
            rows.append(
                f"| `{bench}` | {entry['label']}{detail} | {entry['baseline']} | {_value(entry)} | "
                f"{target.text()} | {'yes' if entry['met'] else '**no**'} |"
            )
        box = run["machine"]
        load = run["loadAverage"]
        runs.append(
            f"- `{bench}`: {run['date']}, commit {run['commit']}, {box['cpus']} × {box['cpu']}, "
            f"{box['memoryGiB']} GiB, Python {box['python']}; load average {load['before']:g} before, "
            f"{load['after']:g} after; {run['seconds']:g} s"
        )
    return "\n".join([*rows, "", "Recorded runs (`bench/results.json`):", "", *runs])
