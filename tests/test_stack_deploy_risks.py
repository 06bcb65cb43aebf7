"""Deploy risks found by reviewing the template against AWS's documentation (issue 16, item 2): each is held
here against the synthesized template or the README."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from test_notebook_instance import _lifecycle, rendered_on_start
from test_stack_definition import allowed, lid_of_type, role_statements

from lambdas.cleanup.sagemaker_cleanup import PASS_LOG_BUDGET_SECONDS
from lambdas.workflow_input.config import MAX_PREFIX_LENGTH
from local.fake_aws import ACCOUNT_ID, REGION
from local.template import lambda_functions, state_machine_logical_id
from stacks import cleanup, notebook
from stacks.shardlab_stack import NEW_ACCOUNT_TRAINING_INSTANCES
from stacks.workflow import VENDED_LOGS_PREFIX

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
TRAINING_JOBS_PER_RUN = 2


def test_the_example_input_fits_a_new_accounts_training_instances(template: dict[str, Any]) -> None:
    """A new account may run 4 training instances across all jobs; a run trains 2 jobs at once."""
    example = json.loads(template["Outputs"]["ExampleExecutionInput"]["Value"])
    assert TRAINING_JOBS_PER_RUN * example["instanceCount"] <= NEW_ACCOUNT_TRAINING_INSTANCES
    section = README.split("### Run it from the Step Functions console", 1)[1]
    first_run = json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))  # type: ignore[union-attr]
    assert first_run["instanceCount"] == example["instanceCount"]
    assert "To scale up" in section


def test_the_readme_quota_table_names_the_notebooks_quota_and_the_way_out() -> None:
    table = README.split("### Before your first run: SageMaker quotas", 1)[1].split("\n\n")[2]
    row = next(line for line in table.splitlines() if "for notebook instance usage" in line)
    assert "`ml.t3.medium for notebook instance usage`" in row and "-c shardlab:notebook=false" in row


def test_the_sagemaker_role_may_create_the_training_log_group(
    template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
) -> None:
    """logs:CreateLogGroup is authorized against the bare group ARN; the streams' actions against `<group>:*`."""
    role = lid_of_type(template, "AWS::IAM::Role", "SageMakerExecution")
    statements = role_statements(template, role, resolve)
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/sagemaker/TrainingJobs"
    assert allowed(statements, "logs:CreateLogGroup", group)
    assert allowed(statements, "logs:CreateLogStream", f"{group}:log-stream:job/algo-1-1")
    endpoint_group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/shardlab-run-sharded"
    assert allowed(statements, "logs:CreateLogGroup", endpoint_group)
    assert not allowed(statements, "logs:CreateLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/other")


def test_the_pipeline_logs_to_a_vended_logs_group(template: dict[str, Any]) -> None:
    """Under /aws/vendedlogs/ log delivery needs no entry in the account's 5,120-character logs resource policy."""
    machine = template["Resources"][state_machine_logical_id(template)]
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    group_lid = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = template["Resources"][group_lid]["Properties"]["LogGroupName"]
    assert name.startswith(VENDED_LOGS_PREFIX) and name.endswith("-pipeline")


def test_a_platform_upgrade_renames_the_notebook_so_cloudformation_can_replace_it(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PlatformIdentifier (like DirectInternetAccess and the IMDS version) changes only by replacement, and
    CloudFormation cannot replace a custom-named resource under the same name: the name must change with them."""
    (instance,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::NotebookInstance"]
    name = instance["Properties"]["NotebookInstanceName"]
    assert name == notebook.notebook_instance_name("shardlab")
    for setting, other in (("PLATFORM_IDENTIFIER", "notebook-al2023-v2"), ("DIRECT_INTERNET_ACCESS", "Disabled"),
                           ("MINIMUM_IMDS_VERSION", "1")):
        with monkeypatch.context() as patch:
            patch.setattr(notebook, setting, other)
            assert notebook.notebook_instance_name("shardlab") != name, setting
    longest = notebook.notebook_instance_name("x" * MAX_PREFIX_LENGTH)
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("NotebookInstanceName")
    assert len(longest) <= shape.metadata["max"] and re.fullmatch(shape.metadata["pattern"], longest)


def _cli_block(script: str) -> str:
    return script[script.index("# --- find the AWS CLI"):script.index("# --- end of finding the AWS CLI")]


@pytest.mark.parametrize("where", ["path", "image", "nowhere"])
def test_the_on_start_script_finds_the_aws_cli_or_says_it_is_missing(
    template: dict[str, Any], tmp_path: Path, where: str
) -> None:
    """SageMaker runs the script with PATH=/sbin:bin:/usr/sbin:/usr/bin; the CLI may be elsewhere on the image.
    A missing CLI must not fail the script (a failed instance rolls the deploy back): it logs why and goes on."""
    script = rendered_on_start(template)
    subprocess.run(["/bin/bash", "-n"], input=script, text=True, check=True)  # the whole script parses
    on_path, image = tmp_path / "path", tmp_path / "conda" / "bin"
    for folder in (on_path, image):
        folder.mkdir(parents=True)
    cli = {"path": on_path, "image": image}.get(where)
    if cli is not None:
        (cli / "aws").write_text("#!/bin/sh\n")
        (cli / "aws").chmod(0o755)
    block = re.sub(r"^AWS_CLI_PLACES=.*$", f'AWS_CLI_PLACES="/nonexistent {image}"', _cli_block(script),
                   flags=re.MULTILINE)
    result = subprocess.run(["/bin/bash", "-c", f'set -euo pipefail\n{block}\necho "found=$AWS_CLI"'],
                            env={"PATH": str(on_path)}, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"found={cli / 'aws' if cli else ''}"
    assert ("no AWS CLI found" in result.stderr) == (cli is None)
    # What needs the CLI runs only with one; the idle check gets the one found.
    assert 'if [ -n "${NotebooksUri}" ] && [ -n "$AWS_CLI" ]; then\n  "$AWS_CLI" s3 cp' in _lifecycle(template)[0]
    assert 'if [ -n "$AWS_CLI" ]; then\n  systemctl enable --now shardlab-idle-stop.timer' in script
    assert "Environment=SHARDLAB_AWS_CLI=%s" in script


def test_the_clean_up_guard_ends_within_cloudformations_hour_with_a_margin(template: dict[str, Any]) -> None:
    """CloudFormation fails the custom resource after its ServiceTimeout (at most an hour) with no word on what
    was left; the guard's own timeout (its onEvent call, the waiter's polls, a last isComplete call) must end
    first, with minutes to spare, so the guard fails with its list of what is still pending."""
    (guard,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::ShardlabCleanupGuard"]
    service_timeout = int(guard["Properties"]["ServiceTimeout"])
    assert service_timeout <= 3600
    timeouts = {spec["handler"]: int(spec["timeout"]) for spec in lambda_functions(template).values()}
    on_event = timeouts["lambdas.cleanup.handler.on_event"]
    is_complete = timeouts["lambdas.cleanup.handler.is_complete"]
    worst = on_event + cleanup.GUARD_TIMEOUT.to_seconds() + is_complete
    assert worst <= service_timeout - 4 * 60, (on_event, cleanup.GUARD_TIMEOUT.to_seconds(), is_complete)
    # A pass's log work is bounded well inside one call (the listing and deletions of SageMaker resources too).
    assert is_complete / 2 >= PASS_LOG_BUDGET_SECONDS
