"""The bundled GDELT sample (raw backfile layout), its reproducible conversion, and the scale-up generator."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "gdelt" / "events"
SHARED_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gdelt"  # shared/ lies beside the clone
sys.path.insert(0, str(ROOT / "data"))

import convert_sample  # noqa: E402
import scale_up  # noqa: E402


@pytest.mark.parametrize("year", range(1979, 1985))
def test_sample_year_is_in_the_raw_backfile_layout(year: int) -> None:
    data = (SAMPLE / f"{year}.csv").read_bytes()
    assert data.endswith(b"\n") and b"\r" not in data
    data.decode("utf-8")
    lines = data.splitlines()
    assert len(lines) > 600
    event_ids = []
    for line in lines:
        fields = line.split(b"\t")
        assert len(fields) == 57
        assert fields[3] == str(year).encode()  # Year column
        assert fields[26].isdigit() and fields[34]  # EventCode, AvgTone
        assert b"NA" not in (fields[7], fields[39], fields[40])  # R's NA became GDELT's empty field
        event_ids.append(int(fields[0]))
    assert event_ids == sorted(set(event_ids))  # no header row, no duplicates, GLOBALEVENTID order


@pytest.mark.skipif(not SHARED_SOURCE.is_dir(), reason="the shared GDELT copies are not on this machine")
def test_conversion_script_reproduces_the_bundled_sample(tmp_path: Path) -> None:
    assert convert_sample.main(["--source", str(SHARED_SOURCE), "--out", str(tmp_path)]) == 0
    for year in range(1979, 1985):
        assert (tmp_path / f"{year}.csv").read_bytes() == (SAMPLE / f"{year}.csv").read_bytes(), year


def test_conversion_refuses_inputs_that_are_not_the_documented_copies(tmp_path: Path) -> None:
    fake = tmp_path / "aamend__spark-gdelt"
    fake.mkdir()
    (fake / "events1.csv").write_bytes(b"changed\n")
    with pytest.raises(SystemExit, match="is not the documented"):
        convert_sample.build_year_rows(tmp_path)


def test_scale_up_is_deterministic_and_resamples_real_rows(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    size = scale_up.write_year(first, 25_000, seed=3)
    scale_up.write_year(second, 25_000, seed=3)
    scale_up.write_year(other, 25_000, seed=4)
    data = first.read_bytes()
    assert size == len(data)
    assert hashlib.sha256(data).digest() == hashlib.sha256(second.read_bytes()).digest()
    assert data != other.read_bytes()
    pool = set(scale_up.load_sample_rows())
    lines = data.splitlines(keepends=True)
    assert len(lines) == 25_000
    for event_id, line in enumerate(lines, start=1):
        tab = line.index(b"\t")
        assert int(line[:tab]) == event_id
        assert line[tab:] in pool
    assert len(set(lines)) == 25_000
    scale_up.write_year(tmp_path / "empty.csv", 0)
    assert (tmp_path / "empty.csv").read_bytes() == b""


NOISY_COLUMNS = {scale_up.AVG_TONE} | {column for pair in scale_up.GEO_COLUMNS for column in pair}


def _fixed_fields(line: bytes) -> tuple[bytes, ...]:
    """The fields the generator never changes (everything but GLOBALEVENTID, AvgTone and the coordinates)."""
    fields = line.rstrip(b"\n").split(b"\t")
    return tuple(value for index, value in enumerate(fields) if index and index not in NOISY_COLUMNS)


def test_own_year_generation_is_deterministic_per_year_and_shares_no_row_across_years(tmp_path: Path) -> None:
    files = {year: tmp_path / f"{year}.csv" for year in (1983, 1984)}
    for year, path in files.items():
        assert scale_up.write_own_year(path, year, 20_000) == path.stat().st_size
    again = tmp_path / "again.csv"
    scale_up.write_own_year(again, 1984, 20_000)
    assert again.read_bytes() == files[1984].read_bytes()  # seeded by the year: same bytes every run

    lines = {year: path.read_bytes().splitlines(keepends=True) for year, path in files.items()}
    assert all(len(rows) == 20_000 for rows in lines.values())
    for year, rows in lines.items():
        own = {_fixed_fields(line) for line in (SAMPLE / f"{year}.csv").read_bytes().splitlines(keepends=True)}
        assert {_fixed_fields(line) for line in rows} <= own  # drawn from that year's real rows only
        assert {line.split(b"\t")[3] for line in rows} == {str(year).encode()}
        assert len({line.split(b"\t")[0] for line in rows}) == 20_000
    assert not set(lines[1983]) & set(lines[1984])
    ids = [{int(line.split(b"\t", 1)[0]) for line in rows} for rows in lines.values()]
    assert not ids[0] & ids[1]  # GLOBALEVENTIDs unique across years


def test_own_year_noise_moves_tone_and_known_geocodes_and_keeps_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "1979.csv"
    scale_up.write_own_year(path, 1979, 5_000)
    real = [line.rstrip(b"\n").split(b"\t") for line in (SAMPLE / "1979.csv").read_bytes().splitlines()]
    real_tones = {float(fields[scale_up.AVG_TONE]) for fields in real}
    rows = [line.split(b"\t") for line in path.read_bytes().splitlines()]
    assert all(len(fields) == 57 for fields in rows)
    assert sum(float(fields[scale_up.AVG_TONE]) not in real_tones for fields in rows) > 4_900
    missing_real = sum(fields[39] in (b"0", b"") and fields[40] in (b"0", b"") for fields in real) / len(real)
    missing_generated = sum(fields[39] in (b"0", b"") and fields[40] in (b"0", b"") for fields in rows) / len(rows)
    assert missing_generated == pytest.approx(missing_real, abs=0.05)  # (0, 0) stays "no geocode"


def test_own_year_needs_a_bundled_year(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no bundled rows for 1990"):
        scale_up.write_own_year(tmp_path / "1990.csv", 1990, 10)
