"""README's and ARCHITECTURE's tables of the execution input, `$.config` and the deploy-time settings are
what the schemas render: a key documented differently from how it is validated fails here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from doc_tables import BLOCKS, block_text


@pytest.mark.parametrize(("path", "name", "render"), BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_doc_table_is_the_rendered_schema(path: str, name: str, render: Callable[[], str]) -> None:
    assert block_text(path, name) == render() + "\n", (
        f"{path} block {name!r} is out of date: run .venv/bin/python tests/doc_tables.py"
    )
