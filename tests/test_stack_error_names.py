"""Every Retry/Catch name in the decoded definition is one Step Functions can raise at that state, and the
definition passes asl-validator (pinned in package.json) as an independent check of the ASL itself."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session

from stacks.paths import LAMBDA_ROOT, REPO_ROOT

pytest_plugins = ["conftest_stack"]

ASL_VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"
SESSION = botocore.session.get_session()

# The ASL specification's reserved error names (https://states-language.net/spec.html#appendix-a) and the ones
# Step Functions adds (developer guide, "Handling errors in Step Functions workflows").
STATES_ERRORS = frozenset({
    "States.ALL", "States.HeartbeatTimeout", "States.Timeout", "States.TaskFailed", "States.Permissions",
    "States.ResultPathMatchFailure", "States.ParameterPathFailure", "States.QueryEvaluationError",
    "States.BranchFailed", "States.NoChoiceMatched", "States.IntrinsicFailure",
    "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed", "States.ResultWriterFailed", "States.Runtime",
})
# Lambda invoke integration (developer guide, "Handle transient Lambda service exceptions"): the SDK's own
# errors; modeled Invoke errors (Lambda.TooManyRequestsException, ...) are added from botocore's model below.
LAMBDA_SERVICE_ERRORS = frozenset({
    "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
})
# SageMaker (developer guide, "Create and manage Amazon SageMaker AI jobs with Step Functions", whose training
# example retries SageMaker.AmazonSageMakerException and SageMaker.ResourceLimitExceededException): an optimized
# integration raises AmazonSageMakerException for every error SageMaker does not model (throttling included).
SAGEMAKER_OPTIMIZED_GENERIC = "SageMaker.AmazonSageMakerException"
# AWS SDK integrations (developer guide, "AWS SDK service integrations"): `<Service>.<Error>` with the Exception
# suffix always added; an error the service does not model is `<Service>.<Service>Exception`.
SAGEMAKER_SDK_GENERIC = "SageMaker.SageMakerException"


def _modeled(service: str, operation: str, prefix: str) -> set[str]:
    model = SESSION.get_service_model(service).operation_model(operation)
    return {f"{prefix}.{error.name.removesuffix('Exception')}Exception" for error in model.error_shapes}


def project_error_names() -> set[str]:
    """A Lambda function error is named after the exception class the handler raised: every exception class
    defined in the project's Lambda packages."""
    names: set[str] = set()
    for package in (p.name for p in LAMBDA_ROOT.iterdir() if (p / "__init__.py").exists()):
        for module_info in pkgutil.walk_packages([str(LAMBDA_ROOT / package)], prefix=f"lambdas.{package}."):
            module = importlib.import_module(module_info.name)
            names |= {name for name, value in inspect.getmembers(module, inspect.isclass)
                      if issubclass(value, BaseException) and value.__module__.split(".")[1] == package}
    return names


def raisable_at(state: dict[str, Any], project_errors: set[str]) -> set[str]:
    """What Step Functions can raise at `state` (a Parallel/Map also re-raises what its states raise)."""
    names = set(STATES_ERRORS)
    for branch in [*state.get("Branches", []), *([state["ItemProcessor"]] if "ItemProcessor" in state else [])]:
        for inner in branch["States"].values():
            names |= raisable_at(inner, project_errors)
    if state["Type"] != "Task":
        return names
    resource = state["Resource"]
    if resource.endswith(":states:::lambda:invoke"):
        return names | LAMBDA_SERVICE_ERRORS | _modeled("lambda", "Invoke", "Lambda") | project_errors
    if ":states:::sagemaker:" in resource:
        action = resource.rsplit(":", 1)[1].removesuffix(".sync")
        return names | {SAGEMAKER_OPTIMIZED_GENERIC} | _modeled("sagemaker", action[0].upper() + action[1:],
                                                                 "SageMaker")
    if ":states:::aws-sdk:sagemaker:" in resource:
        action = resource.rsplit(":", 1)[1]
        return names | {SAGEMAKER_SDK_GENERIC} | _modeled("sagemaker", action[0].upper() + action[1:], "SageMaker")
    raise AssertionError(f"no error allow-list for the integration {resource}")


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        for branch in [*state.get("Branches", []), *([state["ItemProcessor"]] if "ItemProcessor" in state else [])]:
            yield from _states(branch)


def test_every_retry_and_catch_name_is_one_step_functions_raises_there(definition: dict[str, Any]) -> None:
    project_errors = project_error_names()
    assert "CleanupIncompleteError" in project_errors and "InvalidExecutionInputError" in project_errors
    unmatched = []
    checked = 0
    for name, state in _states(definition):
        possible = raisable_at(state, project_errors)
        for handler in [*state.get("Retry", []), *state.get("Catch", [])]:
            for error in handler["ErrorEquals"]:
                checked += 1
                if error not in possible:
                    unmatched.append(f"{name}: {error}")
    assert checked > 10
    assert unmatched == [], "these names can never match at their state: " + ", ".join(unmatched)


def test_sagemaker_calls_retry_the_generic_error_of_their_integration_style(definition: dict[str, Any]) -> None:
    """Throttling arrives as the integration style's generic SageMaker error: each SageMaker task retries it."""
    for name, state in _states(definition):
        resource = state.get("Resource", "")
        if ":states:::sagemaker:" in resource or ":states:::aws-sdk:sagemaker:" in resource:
            generic = SAGEMAKER_SDK_GENERIC if "aws-sdk" in resource else SAGEMAKER_OPTIMIZED_GENERIC
            assert any(generic in retry["ErrorEquals"] for retry in state.get("Retry", [])), name


def test_asl_validator_accepts_the_decoded_definition(definition: dict[str, Any], tmp_path: Path) -> None:
    assert ASL_VALIDATOR.exists(), "asl-validator is pinned in package.json: run scripts/bootstrap.sh app"
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    result = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator is live: a Next to a state that does not exist is refused.
    broken = json.loads(json.dumps(definition))
    first = broken["States"][broken["StartAt"]]
    first["Next"] = "No such state"
    path.write_text(json.dumps(broken))
    refused = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True,
                             check=False, timeout=120)
    assert refused.returncode != 0 and "No such state" in refused.stdout + refused.stderr
