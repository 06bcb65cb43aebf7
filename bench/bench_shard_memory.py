"""Benchmark: the shard function's peak memory against its Lambda memory setting (issue 10, finding 1).

Runs ``lambdas.dataprep.pipeline.shard_year`` (``bench_shard.py``'s shardlab child: its own process, peak RSS with
boto3 loaded) on generated years of increasing size (``data/scale_up.py``, from the real sample), fits peak RSS
against the input's size, and extrapolates to the largest yearly file (2005, about 126 MB). Baseline: the
memory the stack gives the function (``SHARD_MEMORY_MB``) and the 3,008 MB a new account allows; prints the
estimated peak as a ratio of both and exits non-zero if the estimate is more than half the setting (its target
in ``bench/results.py``: a 2x safety margin) or the setting is above the cap. ``--record`` writes the figure to
``bench/results.json``.

Usage: ``python bench/bench_shard_memory.py [--rows 430941] [--record]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LARGEST_YEAR_BYTES = 126 * 10**6  # 2005, the largest GDELT yearly file
NEW_ACCOUNT_CAP_MB = 3008


def peak_rss(path: Path, codes: list[str]) -> dict[str, int]:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_shard.py"),
            "--child",
            "shardlab",
            "--input",
            str(path),
            "--codes",
            ",".join(codes),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=430_941, help="rows of the smallest generated year")
    parser.add_argument("--record", action="store_true", help="write the figure to bench/results.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "data"))
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT))
    from bench_shard import top_codes
    from results import check, figure, load_average, record
    from scale_up import write_year

    from stacks.data_preparation import SHARD_MEMORY_MB

    load_before, bench_started = load_average(), time.perf_counter()

    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in (1, 2):
            path = Path(tmp) / f"{factor}.csv"
            size = write_year(path, args.rows * factor)
            result = peak_rss(path, top_codes(path))
            points.append((size, result["peakRssBytes"]))
            print(
                f"{args.rows * factor:>10,} rows, {size / 1e6:7.1f} MB in: "
                f"peak RSS {result['peakRssBytes'] / 2**20:7.1f} MiB ({result['rowsKept']:,} rows kept)"
            )
    (size_a, rss_a), (size_b, rss_b) = points
    per_byte = max(0.0, (rss_b - rss_a) / (size_b - size_a))
    estimate_mb = (rss_a + per_byte * (LARGEST_YEAR_BYTES - size_a)) / 2**20
    print(
        f"slope {per_byte:.3f} bytes of RSS per input byte; 2005 (~{LARGEST_YEAR_BYTES / 1e6:.0f} MB): "
        f"~{estimate_mb:.0f} MiB peak"
    )
    print(
        f"estimate / SHARD_MEMORY_MB ({SHARD_MEMORY_MB}): {estimate_mb / SHARD_MEMORY_MB:.2f}; "
        f"estimate / new-account cap ({NEW_ACCOUNT_CAP_MB}): {estimate_mb / NEW_ACCOUNT_CAP_MB:.2f}"
    )
    figures = [
        figure(
            "shard_memory_setting",
            [estimate_mb / SHARD_MEMORY_MB],
            label=(
                f"shard step's peak RSS on generated {points[0][0] / 1e6:.0f} and {points[1][0] / 1e6:.0f} MB "
                f"years, extrapolated to 2005 (~{LARGEST_YEAR_BYTES / 1e6:.0f} MB, the largest yearly file)"
            ),
            baseline=f"the function's `SHARD_MEMORY_MB` ({SHARD_MEMORY_MB:,} MB: one vCPU)",
            detail=(
                f"~{estimate_mb:.0f} MiB estimated peak ({points[0][1] / 2**20:.0f} and {points[1][1] / 2**20:.0f} "
                f"MiB measured); at most half the setting, which is at most a new account's {NEW_ACCOUNT_CAP_MB:,} MB"
            ),
        )
    ]
    if args.record:
        record("bench_shard_memory.py", figures, load_before=load_before, seconds=time.perf_counter() - bench_started)
    missed = check(figures)
    if SHARD_MEMORY_MB > NEW_ACCOUNT_CAP_MB:
        print(f"MISSED: SHARD_MEMORY_MB {SHARD_MEMORY_MB} > a new account's {NEW_ACCOUNT_CAP_MB} MB")
        missed = 1
    return missed


if __name__ == "__main__":
    raise SystemExit(main())
