"""Deterministic scale-up: raw-layout GDELT year files of any size from the bundled real rows.

Two generators; same arguments, same bytes (only ``random.Random(seed).random()`` and ``gauss()`` streams,
which Python keeps stable across versions):

- ``write_year``: rows drawn uniformly with replacement from every bundled year (1979-1984), fresh
  consecutive GLOBALEVENTIDs, every other column the real row unchanged. For benchmarks of one year.
- ``write_own_year``: a year from *that year's own* bundled rows only (so a training year and the test year
  share no row), each drawn row a noisy variant: AvgTone plus N(0, 0.5), clipped to GDELT's [-100, 100];
  each non-zero geocode latitude/longitude plus N(0, 0.05) degrees (a (0, 0) "no geocode" stays missing);
  everything else, EventCode included, unchanged; GLOBALEVENTIDs unique across years. The noise is seeded
  per year (seed = the year). ``python -m local run --scale full`` uses it for every year of the run.

Sizes: ``FULL_YEAR_ROWS`` = 430,941 rows is the real 1979 file (the workshop notebook's 430,940-row frame plus
the line pandas took as its header, see data/README.md). The other years' row counts are not in any source
this project has, so every generated year has 1979's size; real later years are larger (GDELT grows).

Usage: ``python data/scale_up.py --rows 430941 --out /tmp/gdelt/events/1979.csv [--seed 1979]``
       ``python data/scale_up.py --own-year 1984 --rows 430941 --out /tmp/gdelt/events/1984.csv``
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "gdelt" / "events"
SAMPLE_YEARS = range(1979, 1985)
FIRST_EVENT_ID = 1
FULL_YEAR_ROWS = 430_941
AVG_TONE, GEO_COLUMNS = 34, ((39, 40), (46, 47), (53, 54))  # 0-based columns of the 57-column layout
TONE_NOISE, GEO_NOISE = 0.5, 0.05
POOL_ROWS = 16_384  # noisy variants made of the year's real rows (each at least once), then drawn from: fast
EVENT_IDS_PER_YEAR = 100_000_000


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


def _noisy(fields: list[bytes], gauss: Callable[[float, float], float]) -> bytes:
    """A copy of one real row (its fields after GLOBALEVENTID) with seeded noise on AvgTone and the geocodes."""
    out = list(fields)
    tone = min(max(float(out[AVG_TONE - 1]) + gauss(0.0, TONE_NOISE), -100.0), 100.0)
    out[AVG_TONE - 1] = b"%.10g" % tone
    for lat_column, long_column in GEO_COLUMNS:
        lat, long = out[lat_column - 1], out[long_column - 1]
        if not lat or not long or (float(lat) == 0 and float(long) == 0):
            continue  # missing geocode: keep it missing, the pipeline filters (0, 0)
        out[lat_column - 1] = b"%.6g" % min(max(float(lat) + gauss(0.0, GEO_NOISE), -90.0), 90.0)
        out[long_column - 1] = b"%.7g" % min(max(float(long) + gauss(0.0, GEO_NOISE), -180.0), 180.0)
    return b"\t" + b"\t".join(out)


def write_own_year(
    out: Path, year: int, rows: int = FULL_YEAR_ROWS, seed: int | None = None, sample_dir: Path = SAMPLE_DIR
) -> int:
    """Writes ``rows`` noisy resamples of ``year``'s own bundled rows to ``out``; returns the file size in bytes."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    source = sample_dir / f"{year}.csv"
    if not source.is_file():
        raise ValueError(f"no bundled rows for {year}: {source} does not exist (bundled years: 1979-1984)")
    real = [line.rstrip(b"\n").split(b"\t")[1:] for line in source.read_bytes().splitlines(keepends=True)]
    generator = random.Random(year if seed is None else seed)
    variants = max(1, POOL_ROWS // max(len(real), 1))
    pool = [_noisy(fields, generator.gauss) + b"\n" for fields in real for _ in range(variants)]
    draw, pool_size = generator.random, len(pool)
    first_id = (year - SAMPLE_YEARS[0]) * EVENT_IDS_PER_YEAR + FIRST_EVENT_ID
    out.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with out.open("wb") as handle:
        for start in range(0, rows, 10_000):
            ids = range(first_id + start, first_id + min(start + 10_000, rows))
            size += handle.write(b"".join(b"%d" % event_id + pool[int(draw() * pool_size)] for event_id in ids))
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=None, help="default: 1979, or the year with --own-year")
    parser.add_argument("--own-year", type=int, help="generate this year from its own bundled rows, with noise")
    args = parser.parse_args(argv)
    if args.own_year is not None:
        size = write_own_year(args.out, args.own_year, args.rows, args.seed)
    else:
        size = write_year(args.out, args.rows, 1979 if args.seed is None else args.seed)
    print(f"{args.out}: {args.rows} rows, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
