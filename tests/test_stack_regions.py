"""The stack in several regions of one account: no account-global name in common, and the notebook left out
where CloudFormation has no notebook resource types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

from local.template import project_context
from stacks.config import settings_from_context
from stacks.regions import NOTEBOOK_UNAVAILABLE_REGIONS
from stacks.shardlab_stack import ShardlabStack

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1", NOTEBOOK_UNAVAILABLE_REGIONS[0])

# Resource types whose names are unique per account (or globally), and the property that names them.
ACCOUNT_GLOBAL_NAMES = {
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::S3::Bucket": "BucketName",
}
# Resource types whose names are unique per region (or that have no name of their own). A new type in the
# template must be added to one of the two maps, so nobody adds a global name without noticing.
REGIONAL = {
    "AWS::Lambda::Function", "AWS::Logs::LogGroup", "AWS::StepFunctions::StateMachine", "AWS::KMS::Key",
    "AWS::SageMaker::NotebookInstance", "AWS::SageMaker::NotebookInstanceLifecycleConfig",
    "AWS::S3::BucketPolicy", "AWS::IAM::Policy",  # an inline policy's name is unique within its role only
    "AWS::Lambda::Permission", "AWS::CloudFormation::CustomResource", "Custom::S3AutoDeleteObjects",
    "Custom::ShardlabCleanupGuard", "AWS::CDK::Metadata",
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The default stack (same stack name, default prefix) in each region of one account, one synth."""
    app = cdk.App(context=project_context(), outdir=str(tmp_path_factory.mktemp("regions")))
    settings = settings_from_context(app)
    stacks = {region: ShardlabStack(app, f"Shardlab-{region}", stack_name="Shardlab", settings=settings,
                                    env=cdk.Environment(account=ACCOUNT, region=region))
              for region in REGIONS}
    assembly = app.synth()
    return {region: _load(Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path))
            for region, stack in stacks.items()}


def _load(path: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def _global_names(template: dict[str, Any]) -> set[str]:
    names = set()
    for lid, resource in template["Resources"].items():
        kind = resource["Type"]
        assert kind in ACCOUNT_GLOBAL_NAMES or kind in REGIONAL, f"classify {kind} ({lid}) in this test"
        name = resource.get("Properties", {}).get(ACCOUNT_GLOBAL_NAMES.get(kind, ""))
        if name is not None:
            assert isinstance(name, str), f"{lid}: {name!r} is not resolved for a known region"
            names.add(f"{kind} {name}")
    return names


def test_two_regions_of_one_account_share_no_account_global_name(templates: dict[str, dict[str, Any]]) -> None:
    first, second = (_global_names(templates[region]) for region in REGIONS[:2])
    assert first and second, "expected the dashboard's name at least"
    assert first.isdisjoint(second), first & second


def test_the_notebook_is_left_out_with_a_warning_where_cloudformation_has_none(
    templates: dict[str, dict[str, Any]],
) -> None:
    def notebook_types(template: dict[str, Any]) -> set[str]:
        return {r["Type"] for r in template["Resources"].values() if r["Type"].startswith("AWS::SageMaker::Notebook")}

    assert notebook_types(templates["us-east-1"]) == {"AWS::SageMaker::NotebookInstance",
                                                      "AWS::SageMaker::NotebookInstanceLifecycleConfig"}
    without = templates[NOTEBOOK_UNAVAILABLE_REGIONS[0]]
    assert notebook_types(without) == set()
    assert "NotebookUrl" not in without["Outputs"]
    # The pipeline itself is all there.
    assert [r for r in without["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert not [r for r in without["Resources"].values()
                if r["Type"] == "AWS::IAM::Role" and "notebook" in str(r["Properties"].get("Description", ""))]


def test_known_region_without_notebooks_warns_at_synth() -> None:
    app = cdk.App(context=project_context())
    stack = ShardlabStack(app, "Shardlab", settings=settings_from_context(app),
                          env=cdk.Environment(account=ACCOUNT, region=NOTEBOOK_UNAVAILABLE_REGIONS[1]))
    Annotations.from_stack(stack).has_warning(
        "/Shardlab", Match.string_like_regexp(f"{NOTEBOOK_UNAVAILABLE_REGIONS[1]} has no SageMaker notebook"))
