"""Template assertions: resources, properties, removal policies, outputs (aws_cdk.assertions)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from lambdas.lambda_common.contracts import EVENTS
from lambdas.workflow_input.schema import DEFAULTS
from local.template import Assembly, lambda_functions
from stacks.notebook import notebook_instance_name
from stacks.storage import DataBucket
from stacks.training import LINEAR_LEARNER_ACCOUNTS, image_uri_for


@pytest.fixture(scope="module")
def assertions(template: dict[str, Any]) -> Template:
    return Template.from_json(template)


def test_bucket_is_private_encrypted_ssl_only_expiring_and_emptied_on_destroy(assertions: Template) -> None:
    assertions.has_resource("AWS::S3::Bucket", {
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "LifecycleConfiguration": {"Rules": Match.array_with([Match.object_like(
                {"Prefix": "runs/", "ExpirationInDays": 30, "Status": "Enabled"})])},
        },
    })
    assertions.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})
    assertions.resource_count_is("Custom::S3AutoDeleteObjects", 1)


def test_retain_data_keeps_the_bucket_and_its_objects() -> None:
    stack = cdk.Stack(cdk.App())
    DataBucket(stack, "Storage", retain=True, run_data_expiration_days=7)
    retained = Template.from_stack(stack)
    retained.has_resource("AWS::S3::Bucket", {"DeletionPolicy": "Retain"})
    retained.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def test_python_lambdas_have_the_contract_handlers_runtime_arch_and_destroyable_logs(
    template: dict[str, Any], assertions: Template
) -> None:
    functions = lambda_functions(template)
    # one function per typed event's handler, plus the clean-up guard's two (CloudFormation's events, not ours)
    guard = {"lambdas.cleanup.handler.on_event", "lambdas.cleanup.handler.is_complete"}
    assert sorted(f["handler"] for f in functions.values()) == sorted({event.handler for event in EVENTS} | guard)
    for lid in functions:
        properties = template["Resources"][lid]["Properties"]
        assert properties["Runtime"] == "python3.14" and properties["Architectures"] == ["arm64"], lid
        log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert template["Resources"][log_group]["DeletionPolicy"] == "Delete"
    by_handler = {f["handler"]: f for f in functions.values()}
    assert by_handler["lambdas.dataprep.handler.shard"]["timeout"] == 900
    # A new account allows at most 3,008 MB per function (bench/bench_shard_memory.py sizes the shard one).
    assert all(128 <= f["memory"] <= 3008 for f in functions.values()), functions
    assert by_handler["lambdas.dataprep.handler.shard"]["memory"] == 1769  # one full vCPU
    compare_environment = by_handler["lambdas.compare.handler.handler"]["environment"]
    assert compare_environment["SHARDLAB_METRICS_NAMESPACE"] == "Shardlab/shardlab"
    input_environment = by_handler["lambdas.workflow_input.handler.handler"]["environment"]
    assert json.loads(input_environment["SHARDLAB_DEFAULTS"]) == DEFAULTS
    for handler in ("lambdas.cleanup.handler.on_event", "lambdas.cleanup.handler.is_complete"):
        environment = by_handler[handler]["environment"]
        assert environment["SHARDLAB_PREFIX"] == "shardlab"
        assert set(environment["SHARDLAB_STATE_MACHINE_ARN"]) == {"Ref"}
    # No Lambda has AWSLambdaBasicExecutionRole except CDK's own framework functions.
    for lid, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role" and not lid.startswith(("CleanupGuardProvider", "CustomS3")):
            assert "ManagedPolicyArns" not in resource["Properties"], lid


def test_one_lambda_asset_without_caches_or_tests(assembly: Assembly, template: dict[str, Any]) -> None:
    codes = {json.dumps(template["Resources"][lid]["Properties"]["Code"], sort_keys=True)
             for lid in lambda_functions(template)}
    assert len(codes) == 1
    asset_key = json.loads(next(iter(codes)))["S3Key"].removesuffix(".zip")
    asset_dir = assembly.directory / f"asset.{asset_key}"
    files = {p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*") if p.is_file()}
    assert {"lambdas/__init__.py", "lambdas/workflow_input/handler.py", "lambdas/cleanup/handler.py",
            "lambdas/compare/handler.py", "lambdas/dataprep/handler.py"} <= files
    assert all(f.startswith("lambdas/") for f in files), "the asset holds the runtime package only"
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or "/tests/" in f]


def test_state_machine_is_named_logged_and_traced(assertions: Template) -> None:
    assertions.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": "shardlab-pipeline",
        "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": True,
                                 "Destinations": Match.any_value()},
        "TracingConfiguration": {"Enabled": True},
    })


def test_image_map_covers_every_region_with_tag_1(template: dict[str, Any]) -> None:
    (mapping,) = [m for name, m in template["Mappings"].items() if name.startswith("LinearLearnerImage")]
    assert {region: entry["account"] for region, entry in mapping.items()} == LINEAR_LEARNER_ACCOUNTS
    assert len(mapping) == 37
    assert image_uri_for("us-east-1") == "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
    assert image_uri_for("cn-north-1") == "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/linear-learner:1"
    assert image_uri_for("us-isob-east-1").endswith(".dkr.ecr.us-isob-east-1.sc2s.sgov.gov/linear-learner:1")
    assert image_uri_for("us-isof-south-1").endswith(".csp.hci.ic.gov/linear-learner:1")
    assert mapping["us-iso-east-1"]["domain"] == "c2s.ic.gov"
    rule = template["Rules"]["RegionHasLinearLearnerImage"]
    assert sorted(rule["Assertions"][0]["Assert"]["Fn::Contains"][0]) == sorted(LINEAR_LEARNER_ACCOUNTS)


def test_notebook_instance_is_locked_down_and_stops_when_idle(template: dict[str, Any],
                                                              assertions: Template) -> None:
    assertions.has_resource_properties("AWS::SageMaker::NotebookInstance", {
        "NotebookInstanceName": notebook_instance_name("shardlab"),
        "InstanceType": "ml.t3.medium",
        "RootAccess": "Disabled",
        "KmsKeyId": Match.any_value(),
        "LifecycleConfigName": Match.any_value(),
    })
    (config,) = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    script, variables = config["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]["Fn::Sub"]
    assert "/home/ec2-user/SageMaker/shardlab" in script and "stop-notebook-instance" in variables["IdleStopScript"]
    assert "shardlab-idle-stop.timer" in script and variables["IdleMinutes"] == "60"  # tests/test_notebook_instance.py
    assertions.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete",
                                              "Properties": {"EnableKeyRotation": True}})


def test_cleanup_guard_is_deleted_before_what_runs_depend_on(template: dict[str, Any]) -> None:
    (guard_lid,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "Custom::ShardlabCleanupGuard"]
    guard = template["Resources"][guard_lid]
    depends = set(guard.get("DependsOn", []))
    assert any(d.startswith("StorageBucket") for d in depends)
    assert any(d.startswith("SageMakerExecutionRole") for d in depends)
    assert set(guard["Properties"]["StateMachineArn"]) == {"Ref"}  # and so after the state machine
    (auto_delete,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    assert guard_lid in auto_delete["DependsOn"]  # the bucket is emptied after runs have stopped writing


def test_outputs_and_dashboard(template: dict[str, Any], assertions: Template) -> None:
    outputs = template["Outputs"]
    assert {"BucketName", "StateMachineArn", "StateMachineConsoleUrl", "ExampleExecutionInput", "NotebookUrl",
            "DashboardUrl"} <= set(outputs)
    assert json.loads(outputs["ExampleExecutionInput"]["Value"])["testYear"] == 1984
    # Dashboard names are account-global: the region keeps two regions' stacks apart.
    assertions.has_resource_properties("AWS::CloudWatch::Dashboard", {
        "DashboardName": {"Fn::Join": ["", ["shardlab-comparison-", {"Ref": "AWS::Region"}]]}})
    (dashboard,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("TestMSE", "TrainingTimeInSeconds", "BillableInstanceSeconds", "TrainingSpeedUp"):
        assert metric in body
    assert "Shardlab/shardlab,DistributionType,RunId" in body


def test_template_has_no_timestamps_or_random_values(template: dict[str, Any]) -> None:
    text = json.dumps(template)
    assert "2026-" not in text and "2025-" not in text


def test_lifecycle_script_is_valid_bash_and_its_idle_check_valid_python(template: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    (config,) = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::SageMaker::NotebookInstanceLifecycleConfig"]
    script, variables = config["Properties"]["OnStart"][0]["Content"]["Fn::Base64"]["Fn::Sub"]
    values = {name: (value if isinstance(value, str) else "resolved") for name, value in variables.items()}
    values["AWS::Region"] = "us-east-1"
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], script)
    assert "${" not in rendered
    (tmp_path / "on-start.sh").write_text(rendered)
    subprocess.run(["bash", "-n", str(tmp_path / "on-start.sh")], check=True)
    idle_check = rendered.split("/usr/local/bin/shardlab-idle-stop <<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    compile(idle_check, "shardlab-idle-stop", "exec")
    assert "--idle-minutes 60" in rendered


def test_cleanup_guard_gives_up_before_cloudformation_does(template: dict[str, Any]) -> None:
    """CloudFormation fails a custom resource after its ServiceTimeout (at most 3600 s): the Provider framework's
    waiter (isComplete retried every IntervalSeconds, MaxAttempts times) must end, and report, before that."""
    (guard,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::ShardlabCleanupGuard"]
    service_timeout = int(guard["Properties"].get("ServiceTimeout", 3600))
    assert service_timeout <= 3600
    (waiter,) = [r for lid, r in template["Resources"].items()
                 if r["Type"] == "AWS::StepFunctions::StateMachine" and lid.startswith("CleanupGuardProviderwaiter")]
    text = "".join(part for part in waiter["Properties"]["DefinitionString"]["Fn::Join"][1] if isinstance(part, str))
    (retry,) = json.loads(text)["States"]["framework-isComplete-task"]["Retry"]  # ARNs left out: still JSON
    assert retry["BackoffRate"] == 1
    waiter_seconds = retry["IntervalSeconds"] * retry["MaxAttempts"]
    # Room for the last isComplete pass (its Lambda timeout) and the onTimeout report.
    assert waiter_seconds + 5 * 60 <= service_timeout, (waiter_seconds, service_timeout)


def test_every_lambda_logs_to_a_group_the_stack_deletes(template: dict[str, Any]) -> None:
    """A function without LoggingConfig logs to an implicit /aws/lambda/<name> group that outlives `cdk destroy`
    (CDK's own provider functions included)."""
    resources = template["Resources"]
    for lid, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        group = resource["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        assert group in resources, f"{lid} logs to an implicit log group"
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert resources[group]["DeletionPolicy"] == "Delete", lid
        assert resources[group]["Properties"].get("RetentionInDays"), lid
