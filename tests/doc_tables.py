"""The docs' generated tables: where each lives and what renders it (tests/test_doc_tables.py checks them).

`.venv/bin/python tests/doc_tables.py` rewrites every block from the schemas (lambdas/workflow_input/schema.py,
stacks/config.py) and README's benchmark table from bench/results.json (bench/results.py renders it)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script: the repository root holds stacks and lambdas

sys.path.insert(0, str(REPO_ROOT / "bench"))

from results import render_table as benchmark_table  # noqa: E402

from lambdas.workflow_input.tables import config_table, cross_check_list, input_table  # noqa: E402
from stacks.config import settings_table  # noqa: E402

# (file, block name, renderer)
BLOCKS: list[tuple[str, str, Callable[[], str]]] = [
    ("README.md", "deploy-settings", settings_table),
    ("README.md", "execution-input", input_table),
    ("README.md", "execution-input-cross-checks", cross_check_list),
    ("docs/ARCHITECTURE.md", "config", config_table),
    ("README.md", "benchmarks", benchmark_table),
]


def _block(name: str) -> re.Pattern[str]:
    name = re.escape(name)
    return re.compile(rf"(<!-- generated: {name} [^\n]*-->\n)(.*?)(<!-- end generated: {name} -->)", re.DOTALL)


def block_text(path: str, name: str) -> str:
    match = _block(name).search((REPO_ROOT / path).read_text())
    assert match is not None, f"{path} has no generated block {name!r}"
    return match.group(2)


def write_blocks() -> None:
    for path, name, render in BLOCKS:
        file = REPO_ROOT / path
        text, count = _block(name).subn(lambda m, r=render: m.group(1) + r() + "\n" + m.group(3), file.read_text())
        assert count == 1, f"{path} has {count} generated blocks {name!r}"
        file.write_text(text)


if __name__ == "__main__":
    write_blocks()
