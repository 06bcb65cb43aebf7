"""Rebuild the bundled GDELT sample (data/gdelt/events/<year>.csv, 1979-1984) from the shared real copies.

Output layout = the raw GDELT 1.0 backfile as s3://gdelt-open-data/events/<year>.csv serves it: UTF-8,
tab-separated, no header, 57 columns, "\\n" line endings, rows ordered by GLOBALEVENTID.

Inputs (see data/README.md for provenance and licences), checked against their SHA-256 first:
* andeek/gdelt-dedup ``<year>.csv``: comma CSV written by R with a header, 59 columns (the 57 historical
  ones + SOURCEURL + row_id), empty values written as ``NA``. Converted by dropping the last two columns and
  writing ``NA`` back as the empty field GDELT has there. (A literal FIPS code "NA" cannot be told apart
  from a missing value in that file and becomes empty as well.) Missing coordinates are already ``0``.
* aamend/spark-gdelt ``events1.csv`` and reed9999/gdelt-demo ``events.csv``: raw tab-separated GDELT rows;
  their 57-column rows whose Year column is a sample year are copied unchanged.
A GLOBALEVENTID present in several inputs is taken once, from the raw copy.

Usage: ``python data/convert_sample.py [--source DIR] [--out DIR]`` (defaults: ../shared/data/gdelt beside the clone,
data/gdelt/events next to this script). Deterministic: running it twice gives identical bytes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

YEARS = range(1979, 1985)
COLUMNS = 57
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gdelt"  # shared/ lies beside the clone
DEFAULT_OUT = Path(__file__).resolve().parent / "gdelt" / "events"

R_CSV_INPUTS = {year: f"andeek__gdelt-dedup/{year}.csv" for year in YEARS}
RAW_TSV_INPUTS = ("aamend__spark-gdelt/events1.csv", "reed9999__gdelt-demo/events.csv")
EXPECTED_SHA256 = {
    "andeek__gdelt-dedup/1979.csv": "83b72d6823507c9519e8158744fe5299ae0fe78a1eb4b9eff4c624e38c6d6f6c",
    "andeek__gdelt-dedup/1980.csv": "20bb68b9e5fd1bf13e8cfd4b541e09d9cb3ffa253fb7165fa09f7d6606ff642c",
    "andeek__gdelt-dedup/1981.csv": "4da8ec2374aab54612b3260c89d4480c2786495857e801c36b3a7cd96cf42d10",
    "andeek__gdelt-dedup/1982.csv": "65af200bb4528955f212fe17090be8d437a71fdb1936b007932c72604070e0b4",
    "andeek__gdelt-dedup/1983.csv": "b4cc5cd2e9db4514f794e12df6c6e5769d28ca7cfccdc5b7fba87c8d9108c58e",
    "andeek__gdelt-dedup/1984.csv": "89d0fa4e2fdb55da98d368d88ea749b9c0a56e20abeb9b459588873d78e4855d",
    "aamend__spark-gdelt/events1.csv": "5e7147255f0015adef488a3a55acfb4b31b4fe4676e8820eeb4fbd60851d6986",
    "reed9999__gdelt-demo/events.csv": "cd8988c40cea029fb0fe19cb844985c5eef8df6aded0a008a79a5cab862fa2c9",
}
YEAR_COLUMN = 3


def _checked_path(source: Path, relative: str) -> Path:
    path = source / relative
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != EXPECTED_SHA256[relative]:
        raise SystemExit(f"{path}: SHA-256 {digest} is not the documented {EXPECTED_SHA256[relative]}")
    return path


def _r_csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header[-2:] != ["SOURCEURL", "row_id"] or len(header) != COLUMNS + 2:
            raise SystemExit(f"{path}: unexpected header {header[-3:]}")
        return [["" if value == "NA" else value for value in row[:COLUMNS]] for row in reader]


def _raw_rows(path: Path) -> list[list[str]]:
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == COLUMNS:
                rows.append(fields)
    return rows


def build_year_rows(source: Path) -> dict[int, list[list[str]]]:
    raw = [row for relative in RAW_TSV_INPUTS for row in _raw_rows(_checked_path(source, relative))]
    by_year: dict[int, list[list[str]]] = {}
    for year in YEARS:
        rows: dict[int, list[str]] = {}
        for row in raw:
            if row[YEAR_COLUMN] == str(year):
                rows.setdefault(int(row[0]), row)
        for row in _r_csv_rows(_checked_path(source, R_CSV_INPUTS[year])):
            rows.setdefault(int(row[0]), row)
        by_year[year] = [rows[event_id] for event_id in sorted(rows)]
    return by_year


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for year, rows in build_year_rows(args.source).items():
        text = "".join("\t".join(row) + "\n" for row in rows)
        (args.out / f"{year}.csv").write_bytes(text.encode("utf-8"))
        print(f"{args.out / f'{year}.csv'}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
