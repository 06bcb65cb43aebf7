"""bench/results.json holds each recorded figure beside the target bench/results.py declares, computed from its
rounds; README's benchmark table is rendered from it (tests/test_doc_tables.py holds the two equal)."""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import results  # noqa: E402


def recorded() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    data = results.read_results()
    return [(bench, run, entry) for bench, run in data["benchmarks"].items() for entry in run["figures"]]


def test_every_target_is_recorded_by_a_bench_make_bench_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    benches = re.search(r"^RECORDED_BENCHES := (.*)$", makefile, re.MULTILINE)
    assert benches is not None
    recorded_benches = {bench for bench, _, _ in recorded()}
    assert {path.removeprefix("bench/") for path in benches.group(1).split()} == recorded_benches
    assert {entry["name"] for _, _, entry in recorded()} == set(results.TARGETS)


@pytest.mark.parametrize(("bench", "run", "entry"), recorded(), ids=[e["name"] for _, _, e in recorded()])
def test_each_figure_is_its_rounds_median_against_the_declared_target(
    bench: str, run: dict[str, Any], entry: dict[str, Any]
) -> None:
    target = results.TARGETS[entry["name"]]
    assert entry["target"] == {"op": target.op, "bound": target.bound}, f"{bench}: target changed, re-run it"
    rounds = entry["rounds"]
    assert entry["median"] == pytest.approx(statistics.median(rounds), abs=1e-3)
    assert entry["spread"] == [min(rounds), max(rounds)]
    assert entry["best"] == target.best(rounds)
    assert entry["met"] == target.met(entry["median"])
    assert entry["unit"] == target.unit
    for key in ("date", "commit", "machine", "loadAverage", "seconds"):
        assert run[key], key


def test_the_table_shows_what_the_file_says(tmp_path: Path) -> None:
    figure = results.figure("compare", [2.5, 3.5, 3.25], label="scoring", baseline="notebook", detail="wall")
    assert figure["median"] == 3.25 and figure["spread"] == [2.5, 3.5] and figure["best"] == 3.5 and figure["met"]
    path = tmp_path / "results.json"
    results.record("bench_compare.py", [figure], load_before=0.5, seconds=12.0, path=path)
    table = results.render_table(path)
    assert (
        "| `bench_compare.py` | scoring (wall) | notebook | 3.25x (spread 2.5–3.5, best 3.5, 3 rounds) | ≥ 3x | yes |"
        in table
    )
    data = json.loads(path.read_text())
    data["benchmarks"]["bench_compare.py"]["figures"][0].update(median=2.9, met=False)
    path.write_text(json.dumps(data))
    assert "| 2.9x (spread 2.5–3.5, best 3.5, 3 rounds) | ≥ 3x | **no** |" in results.render_table(path)


def test_a_median_under_its_target_fails_the_bench(capsys: pytest.CaptureFixture[str]) -> None:
    under = results.figure("shard_s3", [2.9, 3.2, 2.95], label="s3", baseline="notebook")
    over = results.figure("shard_memory", [0.08, 0.12, 0.11], label="rss", baseline="notebook")
    assert results.check([results.figure("demo_full", [170.0], label="demo", baseline="sample")]) == 0
    assert results.check([under]) == 1 and results.check([over]) == 1
    assert "UNDER TARGET shard_s3: median 2.95x" in capsys.readouterr().out
