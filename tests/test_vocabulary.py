"""The shared vocabulary (lambdas/lambda_common/vocabulary.py): the one S3 URI parser and the branch words, and
the notebook helper's copy of them (notebooks/shardlab_notebook.py ships alone, so it cannot import them)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambdas.lambda_common import vocabulary

NOTEBOOK_HELPER = Path(__file__).resolve().parents[1] / "notebooks" / "shardlab_notebook.py"
COPY_START = "# --- copied from lambdas/lambda_common/vocabulary.py, held equal by tests/test_vocabulary.py ---"
COPY_END = "# --- end of the copy ---"

GOOD_URIS = {
    "s3://bucket/a/b.data": ("bucket", "a/b.data"),
    "s3://bucket/prefix/": ("bucket", "prefix/"),
    "s3://bucket/": ("bucket", ""),
    "s3://bucket": ("bucket", ""),
    "s3://bucket/a//b": ("bucket", "a//b"),
    "s3://bucket/line\nbreak": ("bucket", "line\nbreak"),
}
BAD_URIS = ("bucket/key", "s3:///key", "", "https://bucket/key", None, 3, "s3://", "S3://bucket/key", "s3:/bucket/k",
            " s3://bucket/key", b"s3://bucket/key")


def test_parse_s3_uri_follows_sagemakers_s3uri_rule() -> None:
    for uri, parsed in GOOD_URIS.items():
        assert vocabulary.parse_s3_uri(uri) == parsed
    for bad in BAD_URIS:
        with pytest.raises(ValueError, match="is not an s3://bucket/key URI"):
            vocabulary.parse_s3_uri(bad)


def test_every_branch_has_a_distribution_type_and_a_label() -> None:
    assert set(vocabulary.DISTRIBUTION_TYPES) == set(vocabulary.BRANCHES) == set(vocabulary.BRANCH_LABELS)
    assert sorted(vocabulary.DISTRIBUTION_TYPES.values()) == ["FullyReplicated", "ShardedByS3Key"]


# --- the notebook helper's copy ------------------------------------------------------------------------------


def notebook_helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shardlab_notebook_copy_under_test", NOTEBOOK_HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def copied_names() -> tuple[set[str], set[str]]:
    """(constants, functions) the helper's copied block defines, read from its source between the markers."""
    source = NOTEBOOK_HELPER.read_text()
    start = next(i for i, line in enumerate(source.splitlines()) if line.startswith(COPY_START))
    end = next(i for i, line in enumerate(source.splitlines()) if line.startswith(COPY_END))
    block = ast.parse("\n".join(source.splitlines()[start:end]))
    constants = {
        target.id
        for node in block.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    functions = {node.name for node in block.body if isinstance(node, ast.FunctionDef)}
    return constants, functions


def outcome(function: Any, argument: object) -> object:
    try:
        return function(argument)
    except ValueError as error:
        return ("ValueError", str(error))


def test_the_notebook_helpers_copy_equals_the_vocabulary() -> None:
    lab = notebook_helper()
    constants, functions = copied_names()
    assert {"BRANCHES", "FULLY_REPLICATED", "SHARDED_BY_S3_KEY"} <= constants
    for name in constants:
        assert getattr(lab, name) == getattr(vocabulary, name), name
    # Each copied function runs over the same arguments, bad ones included, on both sides.
    cases = {"parse_s3_uri": [*GOOD_URIS, *BAD_URIS]}
    assert functions == set(cases), "a copied function needs its cases here"
    for name, arguments in cases.items():
        for argument in arguments:
            assert outcome(getattr(lab, name), argument) == outcome(getattr(vocabulary, name), argument), argument
