"""Readable sources: `sourceBucket`/`sourcePrefix` are inputs, and the roles that read them get their grants
from the deploy-time list cdk.json `shardlab:sourceLocations`. Every source the first state accepts must be
readable by every role that reads it (no valid input fails later with AccessDenied), and every other source is
refused at validation with a message that says how to deploy for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from conftest_stack import local_resolver
from test_stack_definition import allowed, lid_by_handler, lid_of_type, role_of, role_statements

from lambdas.workflow_input.config import build_config
from lambdas.workflow_input.sources import DEFAULT_SOURCE_LOCATIONS, parse_source_location
from lambdas.workflow_input.validators import InvalidExecutionInputError
from local.template import lambda_functions, synth_assembly
from stacks.config import settings_from_context

CUSTOM_LOCATIONS = ["s3://gdelt-open-data/events/", "s3://my-gdelt-mirror/gdelt/v1/", "s3://whole-bucket/"]
READERS = ("lambdas.dataprep.handler.profile", "lambdas.dataprep.handler.shard", "notebook")
# Candidate inputs: inside, below, beside and outside each location (a prefix that only starts the same
# way, `events-old/`, must not count as inside `events/`).
BUCKETS = ["gdelt-open-data", "my-gdelt-mirror", "whole-bucket", "someone-elses-bucket"]
PREFIXES = ["", "events/", "events/1979/", "events-old/", "gdelt/", "gdelt/v1/", "gdelt/v1/monthly/", "other/"]


@pytest.fixture(scope="module")
def custom_assembly(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return synth_assembly({"shardlab:sourceLocations": CUSTOM_LOCATIONS},
                          outdir=tmp_path_factory.mktemp("cdk.out.sources"), nag=True)


def deployed_locations(template: dict[str, Any]) -> list[str]:
    """What the deployed first state checks against: its Lambda's environment."""
    environment = lambda_functions(template)[lid_by_handler(template, "lambdas.workflow_input.handler.handler")]
    raw = environment["environment"].get("SHARDLAB_SOURCE_LOCATIONS")
    return list(json.loads(raw)) if raw else list(DEFAULT_SOURCE_LOCATIONS)


def accepted(bucket: str, prefix: str, locations: list[str]) -> bool:
    try:
        build_config({"sourceBucket": bucket, "sourcePrefix": prefix}, execution_name="x", bucket="b",
                     resource_prefix="shardlab", source_locations=locations)
    except InvalidExecutionInputError as error:
        assert "cdk deploy -c 'shardlab:sourceLocations=" in str(error), error
        assert f"s3://{bucket}/{prefix}" in str(error)
        return False
    return True


def reader_statements(template: dict[str, Any], resolve: Callable[[dict[str, Any]], str]
                      ) -> dict[str, list[dict[str, Any]]]:
    roles = {handler: role_of(template, lid_by_handler(template, handler)) for handler in READERS[:2]}
    roles["notebook"] = role_of(template, lid_of_type(template, "AWS::SageMaker::NotebookInstance"))
    return {reader: role_statements(template, role, resolve) for reader, role in roles.items()}


def unreadable_accepted_sources(template: dict[str, Any]) -> list[str]:
    resolve = local_resolver(template)
    statements = reader_statements(template, resolve)
    locations = deployed_locations(template)
    problems = []
    for bucket in BUCKETS:
        for prefix in PREFIXES:
            if not accepted(bucket, prefix, locations):
                continue
            key = f"{prefix}1979.csv"
            for reader, reader_policy in statements.items():
                if not allowed(reader_policy, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"):
                    problems.append(f"{reader} cannot read s3://{bucket}/{key}")
                # Without ListBucket a missing year would answer 403 AccessDenied instead of 404.
                if not allowed(reader_policy, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key}):
                    problems.append(f"{reader} cannot list s3://{bucket}/{key}")
    return problems


def test_every_source_the_default_deployment_accepts_is_readable(template: dict[str, Any]) -> None:
    assert deployed_locations(template) == DEFAULT_SOURCE_LOCATIONS
    assert unreadable_accepted_sources(template) == []
    assert accepted("gdelt-open-data", "events/", deployed_locations(template))
    assert not accepted("someone-elses-bucket", "events/", deployed_locations(template))
    assert not accepted("gdelt-open-data", "events-old/", deployed_locations(template))


def test_a_deployment_for_more_locations_reads_exactly_those(custom_assembly: Any) -> None:
    template = custom_assembly.template
    assert deployed_locations(template) == CUSTOM_LOCATIONS
    assert unreadable_accepted_sources(template) == []
    locations = deployed_locations(template)
    assert accepted("my-gdelt-mirror", "gdelt/v1/monthly/", locations)
    assert accepted("whole-bucket", "", locations) and accepted("whole-bucket", "other/", locations)
    assert not accepted("my-gdelt-mirror", "gdelt/", locations)
    # ... and nothing else: the readers cannot read outside the listed locations.
    statements = reader_statements(template, local_resolver(template))
    for reader_policy in statements.values():
        assert not allowed(reader_policy, "s3:GetObject", "arn:aws:s3:::my-gdelt-mirror/gdelt/secret.csv")
        assert not allowed(reader_policy, "s3:ListBucket", "arn:aws:s3:::my-gdelt-mirror", {"s3:prefix": "gdelt/"})
        assert not allowed(reader_policy, "s3:GetObject", "arn:aws:s3:::someone-elses-bucket/events/1979.csv")
    (nag,) = [p for p in custom_assembly.validation_report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []  # each location's read grant is acknowledged with its reason


def test_the_refusal_names_the_source_the_readable_locations_and_the_deploy_command() -> None:
    with pytest.raises(InvalidExecutionInputError) as refused:
        build_config({"sourceBucket": "my-gdelt-mirror", "sourcePrefix": "gdelt/"}, execution_name="x",
                     bucket="b", resource_prefix="shardlab")
    message = str(refused.value)
    assert "s3://my-gdelt-mirror/gdelt/ is outside the locations this deployment may read" in message
    assert "s3://gdelt-open-data/events/" in message and "AccessDenied" in message
    command = message.split("cdk deploy -c ", 1)[1]
    assert json.loads(command.strip("'").split("=", 1)[1]) == ["s3://gdelt-open-data/events/",
                                                               "s3://my-gdelt-mirror/gdelt/"]


@pytest.mark.parametrize(("context", "message"), [
    ({"shardlab:sourceLocations": []}, "at least one"),
    ({"shardlab:sourceLocations": ["gdelt-open-data/events/"]}, "must look like s3://"),
    ({"shardlab:sourceLocations": ["s3://gdelt-open-data/events"]}, "ending in '/'"),
    ({"shardlab:sourceLocations": ["s3://my-gdelt-mirror/gdelt/"]}, "executionDefaults source"),
])
def test_bad_source_locations_fail_synth(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_context(cdk.App(context=context))


def test_source_locations_parse() -> None:
    assert parse_source_location("s3://whole-bucket/") == ("whole-bucket", "")
    assert parse_source_location("s3://b-1/a/b/") == ("b-1", "a/b/")
