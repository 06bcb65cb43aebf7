"""Session fixtures for the stack tests: the app is synthesized ONCE (with cdk-nag) and shared.

Use them from a test module with `pytest_plugins = ["conftest_stack"]` (tests/ is on sys.path).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.cfn import LocalDeployment
from local.fake_aws import ACCOUNT_ID, REGION
from local.template import Assembly, state_machine_definition, synth_assembly

# What `cdk synth --no-version-reporting` passes to the app, so this synth is comparable with the CLI's.
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": False,
}


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synth_assembly(CLI_CONTEXT, outdir=tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="session")
def template(assembly: Assembly) -> dict[str, Any]:
    return assembly.template


@pytest.fixture(scope="session")
def resolve(template: dict[str, Any]) -> Callable[[dict[str, Any]], str]:
    return local_resolver(template)


@pytest.fixture(scope="session")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's ASL, decoded from the template with fake-account names and ARNs (as local mode does)."""
    return state_machine_definition(LocalDeployment(template, account_id=ACCOUNT_ID, region=REGION))


def local_resolver(template: dict[str, Any], region: str = REGION) -> Callable[[dict[str, Any]], str]:
    """Resolves intrinsics to names/ARNs in the local account, as local mode deploys them."""
    deployment = LocalDeployment(template, account_id=ACCOUNT_ID, region=region)
    return lambda intrinsic: str(deployment.resolve(intrinsic))
