"""Infrastructure imports runtime code through the real package `lambdas`; nothing edits sys.path at import time.

`python -c "import stacks.<module>"` works from the repository root with no PYTHONPATH (docs/ARCHITECTURE.md,
"Layout": the import rule).
"""

from __future__ import annotations

import os
import subprocess
import sys

from stacks.paths import REPO_ROOT

STACK_MODULES = sorted(f"stacks.{path.stem}" for path in (REPO_ROOT / "stacks").glob("*.py") if path.stem != "__init__")
CHECK = """
import importlib, sys
root = sys.path[:]
for name in sys.argv[1:]:
    importlib.import_module(name)
    assert sys.path == root, f"importing {name} changed sys.path: {sorted(set(sys.path) ^ set(root))}"
"""


def python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          check=False)


def test_a_stacks_module_imports_on_its_own_from_the_repository_root() -> None:
    result = python("-c", "import stacks.config_paths, lambdas.workflow_input.schema")
    assert result.returncode == 0, result.stderr


def test_no_module_of_the_stacks_local_mode_or_the_lambdas_edits_sys_path_when_imported() -> None:
    runtime = sorted(
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO_ROOT / "lambdas").rglob("*.py")
    )
    result = python("-c", CHECK, *STACK_MODULES, "local", "local.runner", *runtime)
    assert result.returncode == 0, result.stderr
