"""Session fixtures for the stack tests: the app is synthesized ONCE (with cdk-nag) and shared.

Use them from a test module with `pytest_plugins = ["conftest_stack"]` (tests/ is on sys.path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.template import Assembly, state_machine_definition, synth_assembly

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    return synth_assembly(outdir=tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="session")
def template(assembly: Assembly) -> dict[str, Any]:
    return assembly.template


@pytest.fixture(scope="session")
def resolve(template: dict[str, Any]) -> Callable[[dict[str, Any]], str]:
    return local_resolver(template)


@pytest.fixture(scope="session")
def definition(template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """The pipeline's ASL, decoded from the template with fake-account names and ARNs."""
    return state_machine_definition(template, resolve)


def local_resolver(template: dict[str, Any], region: str = REGION) -> Callable[[dict[str, Any]], str]:
    """Resolves the definition's intrinsics to names/ARNs in a fake account (logical id as physical name)."""
    resources = template["Resources"]
    mappings = template.get("Mappings", {})

    def name_of(logical_id: str) -> str:
        return logical_id.lower() if resources[logical_id]["Type"] == "AWS::S3::Bucket" else logical_id

    def resolve(intrinsic: dict[str, Any]) -> str:
        (kind, value), = intrinsic.items()
        if kind == "Ref":
            pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": ACCOUNT,
                      "AWS::URLSuffix": "amazonaws.com"}
            return pseudo.get(value) or name_of(value)
        if kind == "Fn::GetAtt":
            logical_id, attribute = value
            assert attribute == "Arn", intrinsic
            kind_of = resources[logical_id]["Type"]
            if kind_of == "AWS::Lambda::Function":
                return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{logical_id}"
            if kind_of == "AWS::IAM::Role":
                return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
            raise AssertionError(f"unexpected GetAtt {intrinsic}")
        if kind == "Fn::FindInMap":
            mapping, key, attribute = value
            key = resolve(key) if isinstance(key, dict) else key
            return str(mappings[mapping][key][attribute])
        raise AssertionError(f"unexpected intrinsic {json.dumps(intrinsic)}")

    return resolve
