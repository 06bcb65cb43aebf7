"""The docs' tables of the execution input and of `$.config`, rendered from the schema's rows.

README.md and docs/ARCHITECTURE.md hold them between generated-block markers; tests/test_doc_tables.py holds
them equal to these (`.venv/bin/python tests/doc_tables.py` rewrites them). Print one with
`python -m lambdas.workflow_input.tables input|cross-checks|config` (from the repository root).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from lambdas.workflow_input import schema


def cell(value: object) -> str:
    """A default as the tables show it: code, strings without JSON quotes."""
    text = value if isinstance(value, str) and value else json.dumps(value)
    return f"`{text}`"


def markdown_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def input_table() -> str:
    return markdown_table(
        ("key", "default", "accepted", "data parameter", "meaning"),
        [(f"`{row.name}`", cell(row.default), row.validate.accepts, "yes" if row.data_parameter else "",
          row.meaning) for row in schema.INPUT_KEYS.values()],
    )


def cross_check_list() -> str:
    return "\n".join(f"- {check.rule}" for check in schema.CROSS_CHECKS)


def config_table() -> str:
    rows = [(f"`{row.name}`", row.config_shape.name, row.in_config) for row in schema.INPUT_KEYS.values()]
    rows += [(f"`{row.name}`", row.shape.name, row.meaning) for row in schema.DERIVED_KEYS.values()]
    return markdown_table(("key", "type", "meaning"), rows)


TABLES = {"input": input_table, "cross-checks": cross_check_list, "config": config_table}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in TABLES:
        print(f"usage: python -m lambdas.workflow_input.tables {'|'.join(TABLES)}", file=sys.stderr)
        return 2
    print(TABLES[argv[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
