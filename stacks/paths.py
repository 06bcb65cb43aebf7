"""Where the repository's parts are: the one place for the ``lambdas/`` asset root (stack, local mode, tests).

A leaf module (stdlib only), so local mode can put the asset root on the import path before anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_ROOT = REPO_ROOT / "lambdas"  # one asset root: every Lambda package imports lambda_common, workflow_input
NOTEBOOK_ROOT = REPO_ROOT / "notebooks"
NOTEBOOK_INSTANCE_ROOT = REPO_ROOT / "notebook_instance"  # what runs on the instance itself (system Python 3.9)


def ensure_lambda_path() -> None:
    """Make the Lambda packages importable, as they are in the Lambda runtime (asset root on the path)."""
    if str(LAMBDA_ROOT) not in sys.path:
        sys.path.append(str(LAMBDA_ROOT))
