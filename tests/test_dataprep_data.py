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
