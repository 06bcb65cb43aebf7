"""Context settings and the notebook construct, on small stacks (no full synth)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks import notebook as notebook_module
from stacks.config import SETTINGS, ShardlabSettings, settings_from_context
from stacks.notebook import NotebookInstance
from stacks.paths import REPO_ROOT
from stacks.storage import DataBucket


def test_cdk_json_documents_every_setting_with_its_default() -> None:
    """cdk.json holds the documented context defaults; the rows in stacks/config.py are where they are used."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    shardlab = {key.removeprefix("shardlab:"): value for key, value in context.items() if key.startswith("shardlab:")}
    assert shardlab == {row.key: row.default for row in SETTINGS.values()}
    assert shardlab["executionDefaults"] == {}  # the execution input's defaults are its schema's rows


def test_context_defaults_and_cli_style_string_values() -> None:
    assert settings_from_context(cdk.App()) == ShardlabSettings(execution_defaults={})
    app = cdk.App(context={"shardlab:notebook": "false", "shardlab:notebookIdleMinutes": "30",
                           "shardlab:resourcePrefix": "lab-dev",
                           "shardlab:executionDefaults": {"instanceCount": 2}})
    settings = settings_from_context(app)
    assert settings.notebook is False and settings.notebook_idle_minutes == 30
    assert settings.resource_prefix == "lab-dev" and settings.defaults["instanceCount"] == 2
    assert settings.metrics_namespace == "Shardlab/lab-dev"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"shardlab:resourcePrefix": "Shard_Lab"}, "resource prefix"),
        ({"shardlab:notebook": "maybe"}, "shardlab:notebook"),
        ({"shardlab:notebookIdleMinutes": 1}, "notebookIdleMinutes"),
        ({"shardlab:retainData": 1}, "retainData"),
        ({"shardlab:executionDefaults": {"instances": 2}}, "instances"),
        ({"shardlab:shardConcurrency": 0}, "shardConcurrency"),
    ],
)
def test_bad_context_fails_synth_with_the_key_named(context: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_context(cdk.App(context=context))


def test_notebooks_are_shipped_as_an_asset_the_notebook_role_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "walkthrough.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 5,
                                                            "metadata": {}}))
    monkeypatch.setattr(notebook_module, "NOTEBOOK_ROOT", tmp_path)
    stack = cdk.Stack(cdk.App())
    NotebookInstance(stack, "Notebook", resource_prefix="shardlab", instance_type="ml.t3.medium", idle_minutes=45,
                     storage=DataBucket(stack, "Storage", retain=True, run_data_expiration_days=30),
                     source_locations=["s3://gdelt-open-data/events/"],
                     state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:s", state_machine_name="s")
    template = Template.from_stack(stack).to_json()
    (config,) = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    _, variables = config["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]["Fn::Sub"]
    assert "s3://" in json.dumps(variables["NotebooksUri"]) and variables["IdleMinutes"] == "45"
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    actions = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "s3:GetObject" in actions and "sagemaker:StopNotebookInstance" in actions
