"""Where the repository's parts are (stack, local mode, tests). A leaf module: stdlib only."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_ROOT = REPO_ROOT / "lambdas"  # the package `lambdas`: the Lambda asset, imported under the same name
NOTEBOOK_ROOT = REPO_ROOT / "notebooks"
NOTEBOOK_INSTANCE_ROOT = REPO_ROOT / "notebook_instance"  # what runs on the instance itself (system Python 3.9)
