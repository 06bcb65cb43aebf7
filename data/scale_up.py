"""Deterministic scale-up: write a raw-layout GDELT year file of any size by resampling the bundled real rows.

Rows are drawn uniformly with replacement from every bundled year (data/gdelt/events/1979-1984.csv) by a
seeded ``random.Random`` (only its ``random()`` stream, which Python keeps stable across versions), and
given fresh consecutive GLOBALEVENTIDs; every other column is the real row unchanged. Same arguments, same
bytes. Meant for benchmarks: e.g. 430,941 rows is the size of the real 1979 file.

Usage: ``python data/scale_up.py --rows 430941 --out /tmp/gdelt/events/1979.csv [--seed 1979]``
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "gdelt" / "events"
SAMPLE_YEARS = range(1979, 1985)
FIRST_EVENT_ID = 1


def load_sample_rows(sample_dir: Path = SAMPLE_DIR) -> list[bytes]:
    """Every bundled row without its GLOBALEVENTID (bytes from the first tab on, newline included)."""
    rows: list[bytes] = []
    for year in SAMPLE_YEARS:
        with (sample_dir / f"{year}.csv").open("rb") as handle:
            rows.extend(line[line.index(b"\t") :] for line in handle)
    if not rows:
        raise SystemExit(f"no sample rows under {sample_dir}")
    return rows


def write_year(out: Path, rows: int, seed: int = 1979, sample_dir: Path = SAMPLE_DIR) -> int:
    """Writes ``rows`` resampled rows to ``out``; returns the file size in bytes."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    pool = load_sample_rows(sample_dir)
    draw = random.Random(seed).random
    pool_size = len(pool)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with out.open("wb") as handle:
        batch: list[bytes] = []
        for event_id in range(FIRST_EVENT_ID, FIRST_EVENT_ID + rows):
            batch.append(b"%d" % event_id + pool[int(draw() * pool_size)])
            if len(batch) == 10_000:
                size += handle.write(b"".join(batch))
                batch.clear()
        size += handle.write(b"".join(batch))
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1979)
    args = parser.parse_args(argv)
    size = write_year(args.out, args.rows, args.seed)
    print(f"{args.out}: {args.rows} rows, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
