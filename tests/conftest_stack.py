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
def definition(template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """The pipeline's ASL, decoded from the template with fake-account names and ARNs."""
    return state_machine_definition(template, resolve)


def local_resolver(template: dict[str, Any], region: str = REGION) -> Callable[[dict[str, Any]], str]:
    """Resolves intrinsics to names/ARNs in a fake account (the logical id serves as physical name)."""
    resources = template["Resources"]
    mappings = template.get("Mappings", {})
    pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": ACCOUNT,
              "AWS::URLSuffix": "amazonaws.com"}

    def name_of(logical_id: str) -> str:
        properties = resources[logical_id].get("Properties", {})
        kind = resources[logical_id]["Type"]
        if kind == "AWS::S3::Bucket":
            return logical_id.lower()
        if kind == "AWS::StepFunctions::StateMachine":
            return str(properties.get("StateMachineName", logical_id))
        return logical_id

    def arn_of(logical_id: str) -> str:
        kind = resources[logical_id]["Type"]
        name = name_of(logical_id)
        arns = {
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}:*",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{region}:{ACCOUNT}:key/{name}",
        }
        if kind not in arns:
            raise AssertionError(f"no fake ARN for {kind} {logical_id}")
        return arns[kind]

    def resolve(intrinsic: dict[str, Any]) -> str:
        (kind, value), = intrinsic.items()
        if kind == "Ref":
            if value in pseudo:
                return pseudo[value]
            if resources[value]["Type"] == "AWS::StepFunctions::StateMachine":
                return arn_of(value)  # Ref of a state machine is its ARN
            return name_of(value)
        if kind == "Fn::GetAtt":
            logical_id, attribute = value
            assert attribute == "Arn", intrinsic
            return arn_of(logical_id)
        if kind == "Fn::FindInMap":
            mapping, key, attribute = value
            key = resolve(key) if isinstance(key, dict) else key
            return str(mappings[mapping][key][attribute])
        if kind == "Fn::Join":
            delimiter, parts = value
            return str(delimiter).join(p if isinstance(p, str) else resolve(p) for p in parts)
        raise AssertionError(f"unexpected intrinsic {json.dumps(intrinsic)}")

    return resolve
