"""cdk-nag (no unacknowledged finding), cfn-lint (no errors in any region of the image map), and the pinned
CDK CLI's `cdk synth` with no AWS credentials, no network and no Docker, giving the same template as the
in-process synth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from app import add_checks
from local.template import REPO_ROOT, Assembly
from stacks.regions import NOTEBOOK_CONDITION_ID, NOTEBOOK_UNAVAILABLE_REGIONS
from stacks.training import LINEAR_LEARNER_ACCOUNTS

CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def test_cdk_nag_finds_nothing_unacknowledged_and_every_acknowledgement_has_a_reason(assembly: Assembly) -> None:
    report = assembly.validation_report
    assert report is not None, "cdk-nag did not run"
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == [] and nag["conclusion"] == "success"
    acknowledged = nag["suppressedViolations"]
    assert acknowledged, "expected the documented acknowledgements"
    for violation in acknowledged:
        # A specific reason, given on the construct that owns the finding (not on the whole stack).
        assert len(violation["reason"]) > 40, violation["ruleName"]
        assert violation["acknowledgedAt"] != "Shardlab", violation["ruleName"]


CFN_LINT = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]


def test_cfn_lint_finds_no_errors_in_any_region_of_the_image_map(assembly: Assembly, tmp_path: Path) -> None:
    """One cfn-lint run over every region the region rule admits. A probe copy without the notebook's region
    condition proves the run is live: it must show E3006 exactly in the regions the stack leaves it out of."""
    template = json.loads(assembly.template_path.read_text())
    for resource in template["Resources"].values():
        if resource.get("Condition") == NOTEBOOK_CONDITION_ID:
            del resource["Condition"]
    probe = tmp_path / "probe.template.json"
    probe.write_text(json.dumps(template))
    result = subprocess.run(
        [*CFN_LINT, "--format", "json", "--regions", *sorted(LINEAR_LEARNER_ACCOUNTS), "--",
         str(assembly.template_path), str(probe)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.stdout.strip().startswith("["), result.stderr[-2000:]
    findings = json.loads(result.stdout)
    stack_findings = [f for f in findings if Path(f["Filename"]) == assembly.template_path]
    errors = [f for f in stack_findings if f["Level"] == "Error"]
    assert errors == [], errors
    # The only warning: CDK writes DependsOn for roles a Lambda already references (harmless).
    assert {f["Rule"]["Id"] for f in stack_findings} <= {"W3005"}
    probe_errors = {(f["Rule"]["Id"], f["Message"].rsplit("'", 2)[-2]) for f in findings
                    if Path(f["Filename"]) == probe and f["Level"] == "Error"}
    assert probe_errors == {("E3006", region) for region in NOTEBOOK_UNAVAILABLE_REGIONS}, probe_errors


def _offline_environment(home: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CDK_"))}
    # Reuse jsii's unpacked-package cache (only aws-cdk-lib's own files) so the fresh HOME costs no re-extraction.
    jsii_cache = Path(os.environ.get("HOME", "/nonexistent")) / ".cache" / "aws" / "jsii" / "package-cache"
    if jsii_cache.is_dir():
        environment["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(jsii_cache)
    environment.update({
        "HOME": str(home),  # no ~/.aws config or credentials either
        "AWS_EC2_METADATA_DISABLED": "true",  # and no instance-metadata credentials
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    })
    return environment


@pytest.mark.skipif(not CDK_CLI.exists(), reason="pinned CDK CLI not installed (scripts/bootstrap.sh app)")
def test_cdk_cli_synth_works_offline_without_credentials_and_is_deterministic(
    assembly: Assembly, template: dict[str, Any], tmp_path: Path
) -> None:
    outdir = tmp_path / "cdk.out"
    command = [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--no-version-reporting", "-o", str(outdir)]
    # Without a network namespace where the kernel allows one, no request can leave the machine at all.
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], check=False).returncode == 0:
        command = ["unshare", "-rn", *command]
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(command, cwd=REPO_ROOT, env=_offline_environment(home), capture_output=True,
                            text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    cli_template = json.loads((outdir / "Shardlab.template.json").read_text())
    # (Editing lambdas/ between the two synths changes the asset hash; nothing else may differ.)
    assert cli_template == template
    cli_assets = json.loads((outdir / "Shardlab.assets.json").read_text())["files"]
    session_assets = json.loads((assembly.directory / "Shardlab.assets.json").read_text())["files"]
    assert set(cli_assets) == set(session_assets)
    assert not (REPO_ROOT / "cdk.context.json").exists(), "synth must not need context lookups"


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    """The gate is live: the same plugin setup as app.py rejects a wildcard nobody acknowledged."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    add_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-IAM5[Resource::*]" in rules
