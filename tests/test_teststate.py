"""TestState suites (issue 20): every local run records its states as TestState requests; the requests and
mocks are held to botocore's models (STRICT), replaying a suite on local mode's interpreter reproduces it, and
the default run plus the fault runs cover every state of the synthesized definition.

One local deployment runs all the executions at once (faults keyed by execution name), so the whole module
costs about one failing run's time."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from faults_helpers import SMALL_INPUT, fast_retries

from lambdas.cleanup import handler as cleanup_handler
from lambdas.compare import handler as compare_handler
from lambdas.workflow_input import config as workflow_config
from local.__main__ import main
from local.aws_models import input_errors, strict_errors
from local.runner import LocalShardlab
from local.sagemaker.faults import FaultPlan
from local.teststate.replay import LocalTestState, missing_mock
from local.teststate.standin import ServiceError, TestStateStandIn
from local.teststate.suite import SUITE_FORMAT, SUITE_VERSION, load_suite, request_of, walk_states
from local.teststate.verify import compare

pytestmark = pytest.mark.slow

BAD_HYPERPARAMETERS = {"epochs": "1", "loss": "hinge_loss"}  # refused by Linear Learner: the jobs fail
ENDPOINT_REASON = "The primary container for production variant AllTraffic did not pass the ping health check."
# execution name -> its input overrides; the faults below are keyed by execution name
SWEEP_RUN = {"hyperParameters": {"num_models": "4"}, "sweep": {"hyperParameters": {"epochs": ["1", "2"]}}}
RUNS: dict[str, dict[str, Any]] = {
    "ts-default": {},
    "ts-cleanup": {"hyperParameters": BAD_HYPERPARAMETERS},  # training fails, then its clean-up Lambda too
    "ts-reptimeout": {},
    "ts-shtimeout": {},
    "ts-repfail": {},
    "ts-shfail": {},
    "ts-compare": {},
    "ts-transform": {"scoring": "transform"},  # scored by batch transform
    "ts-trfail": {"scoring": "transform"},  # one transform job fails: ScoringFailed after the clean-up
    # a sweep of 2 points (epochs 1 and 2 on instanceCount 2)
    "ts-sweep": SWEEP_RUN,
    "ts-swfail": SWEEP_RUN,  # one point's training fails: SweepFailed after the clean-up
    "ts-swreport": SWEEP_RUN,  # the sweep report fails: SweepReportFailed after the clean-up
}
TIMEOUT_RUNS = ("ts-reptimeout", "ts-shtimeout")
SUCCEEDING_RUNS = ("ts-default", "ts-transform", "ts-sweep")
# Their own phase: every point's jobs at once would find the local training quota taken by the other runs.
SWEEP_RUNS = ("ts-sweep", "ts-swfail", "ts-swreport")
QUICK_RUNS = tuple(name for name in RUNS if name not in TIMEOUT_RUNS + SWEEP_RUNS)
FAULTS = FaultPlan(
    endpoint_failures={"*-ts-repfail-*-replicated": ENDPOINT_REASON, "*-ts-shfail-*-sharded": ENDPOINT_REASON},
    slow_endpoints={"*-ts-reptimeout-*-replicated": 10.0, "*-ts-shtimeout-*-sharded": 10.0},
    invocation_failures={"*-ts-compare-*-sharded": "injected: the inference container crashed"},
    transform_failures={"*-ts-trfail-*-sharded": "ClientError: injected: the transform container crashed"},
    throttle={"CreateModel": 1},  # one throttled CreateModel: a Retry, recorded with retrierRetryCount
    training_failures={"*-ts-swfail-*-p02-sharded": "AlgorithmError: injected: the sweep point's job failed"},
)
# Every state is covered by the runs above; a state that could not be would be named here with the reason.
UNCOVERABLE: dict[str, str] = {}


class CleanupLambdaError(RuntimeError):
    """Injected into the clean-up Lambda of the ts-cleanup run."""


class SweepReportLambdaError(RuntimeError):
    """Injected into the sweep-report Lambda of the ts-swreport run."""


@pytest.fixture(scope="module")
def suites(template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("out")
    original_cleanup = cleanup_handler.run_cleanup
    original_sweep_report = compare_handler.sweep_report

    def failing_cleanup(event: dict[str, Any], context: object) -> dict[str, Any]:
        if any("-ts-cleanup-" in name for name in event.get("names", {}).values()):
            raise CleanupLambdaError("injected: the clean-up Lambda failed")
        return original_cleanup(event, context)

    def failing_sweep_report(event: dict[str, Any], context: object) -> Any:
        if str(event.get("runId", "")).startswith("ts-swreport-"):
            raise SweepReportLambdaError("injected: the sweep-report Lambda failed")
        return original_sweep_report(event, context)

    ends: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cleanup_handler, "run_cleanup", failing_cleanup)
        patch.setattr(compare_handler, "sweep_report", failing_sweep_report)
        for phase in (QUICK_RUNS, SWEEP_RUNS, TIMEOUT_RUNS):
            if phase is TIMEOUT_RUNS:  # poll schedule [1, 1, 1]: an endpoint times out in seconds, not an hour
                patch.setattr(workflow_config, "ENDPOINT_WAIT_SECONDS", 3)
            with LocalShardlab(template, control_plane_options={"faults": FAULTS}) as local, fast_retries():
                # Each run its own seed, so its own dataset: concurrent runs never prepare the same one at once.
                arns = {name: local.start({**SMALL_INPUT, "seed": 1000 + list(RUNS).index(name), **RUNS[name]},
                                          name=name) for name in phase}
                ends.update({name: local.wait(arn, timeout_seconds=300) for name, arn in arns.items()})
                paths.update({name: local.write_teststate_suite(out / name, name) for name in phase})
    statuses = {name: end["status"] for name, end in ends.items()}
    assert statuses == {name: "SUCCEEDED" if name in SUCCEEDING_RUNS else "FAILED" for name in RUNS}, {
        name: (end.get("error"), end.get("cause", "")[:400]) for name, end in ends.items()}
    assert all(path == out / name / "teststate" / "suite.json" for name, path in paths.items())
    return {name: load_suite(path.read_text()) for name, path in paths.items()}


def entries(suites: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, suite in suites.items():
        for entry in suite["entries"]:
            yield name, suite, entry


def test_each_suite_is_versioned_and_holds_the_decoded_definition_once(
    suites: dict[str, dict[str, Any]], definition: dict[str, Any]
) -> None:
    for name, suite in suites.items():
        assert (suite["format"], suite["version"], suite["execution"]) == (SUITE_FORMAT, SUITE_VERSION, name)
        assert suite["definition"] == definition
        assert all("definition" not in entry for entry in suite["entries"])
    with pytest.raises(ValueError, match="version 2 is not 1"):
        load_suite(json.dumps({**suites["ts-default"], "version": 2}))


def test_every_exported_request_is_a_valid_TestState_request(suites: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, suite, entry in entries(suites):
        request = request_of(entry, json.dumps(suite["definition"]))
        problems += [f"{name} {entry['stateName']}: {error}" for error in input_errors("stepfunctions", "TestState",
                                                                                      request)]
        if missing_mock(suite["definition"], request):
            problems.append(f"{name} {entry['stateName']}: a Task/Map/Parallel entry without a mock")
        if "mock" in entry and entry["mock"]["fieldValidationMode"] != "STRICT":
            problems.append(f"{name} {entry['stateName']}: mock not STRICT")
    assert problems == []


def test_every_mock_result_is_a_valid_answer_of_its_integration_by_STRICT_rules(
    suites: dict[str, dict[str, Any]],
) -> None:
    checked: set[str] = set()
    problems = []
    for name, _, entry in entries(suites):
        if "result" in entry.get("mock", {}) and "integration" in entry:
            service, operation = entry["integration"].split(":")
            checked.add(entry["integration"])
            errors = strict_errors(service, operation, json.loads(entry["mock"]["result"]))
            problems += [f"{name} {entry['stateName']} ({entry['integration']}): {error}" for error in errors]
    assert problems == []
    assert checked == {
        "lambda:Invoke", "sagemaker:DescribeTrainingJob", "sagemaker:DescribeTransformJob",
        "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
        "sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint",
    }


def _mock_of(suites: dict[str, dict[str, Any]], integration: str) -> dict[str, Any]:
    entry = next(e for _, _, e in entries(suites) if e.get("integration") == integration and "result" in e["mock"])
    return dict(json.loads(entry["mock"]["result"]))


def test_a_deliberately_broken_mock_fails_STRICT(suites: dict[str, dict[str, Any]]) -> None:
    job = _mock_of(suites, "sagemaker:DescribeTrainingJob")
    assert strict_errors("sagemaker", "DescribeTrainingJob", job) == []
    broken = {**copy.deepcopy(job), "TrainingJobStatus": "Done", "Bogus": 1}
    del broken["ModelArtifacts"]
    broken["ResourceConfig"]["InstanceCount"] = "2"
    errors = strict_errors("sagemaker", "DescribeTrainingJob", broken)
    assert any("ModelArtifacts: required member of" in e for e in errors), errors
    assert any("TrainingJobStatus: 'Done' is not one of" in e for e in errors), errors
    assert any("Bogus: unknown member of" in e for e in errors), errors
    assert any("InstanceCount: expected an integer" in e for e in errors), errors
    invoke = _mock_of(suites, "lambda:Invoke")
    assert strict_errors("lambda", "Invoke", {**invoke, "StatusCode": "200"}) != []


def test_replaying_every_suite_on_local_mode_reproduces_every_output_and_next_state(
    suites: dict[str, dict[str, Any]],
) -> None:
    differences = []
    statuses: set[str] = set()
    with LocalTestState() as local:
        for name, suite, entry in entries(suites):
            verdict = compare(entry, local.test_state(request_of(entry, json.dumps(suite["definition"]))))
            statuses.add(verdict.aws_status)
            if not verdict.ok:
                differences.append(f"{name} {entry['stateName']}: {verdict.difference}")
    assert differences == []
    assert statuses == {"SUCCEEDED", "FAILED", "CAUGHT_ERROR", "RETRIABLE"}


def test_failure_paths_are_recorded_as_errorOutput_mocks_with_retry_counts_and_their_causing_state(
    suites: dict[str, dict[str, Any]],
) -> None:
    retried = [e for _, _, e in entries(suites) if e["status"] == "RETRIABLE"]
    assert {e["stateName"] for e in retried} >= {"Clean up after failure"}
    counts = [e["stateConfiguration"]["retrierRetryCount"] for e in retried
              if e["stateName"] == "Clean up after failure"]
    assert counts[:3] == [0, 1, 2]
    caught = next(e for e in suites["ts-cleanup"]["entries"] if e["stateName"] == "Train both ways")
    assert caught["status"] == "CAUGHT_ERROR" and caught["nextState"] == "Training failed"
    assert caught["mock"]["errorOutput"]["error"] == "States.TaskFailed"
    assert caught["stateConfiguration"]["errorCausedByState"] in {"Train fully replicated", "Train sharded by S3 key"}


def test_every_state_of_the_definition_is_covered_by_a_recorded_suite(
    suites: dict[str, dict[str, Any]], definition: dict[str, Any]
) -> None:
    covered: dict[str, list[str]] = {info.name: [] for info in walk_states(definition)}
    for name, suite in suites.items():
        for state in sorted({entry["stateName"] for entry in suite["entries"]}):
            covered[state].append(name)
    table = "\n".join(f"{state:40} {', '.join(runs) or 'NOT COVERED: ' + UNCOVERABLE.get(state, '?')}"
                      for state, runs in covered.items())
    print(table)
    assert {state for state, runs in covered.items() if not runs} == set(UNCOVERABLE), table


def test_verify_aws_against_a_loopback_TestState_stand_in(
    suites: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    suite = suites["ts-cleanup"]
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:shardlab"
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    argv = ["verify-aws", "--suite", str(path), "--state-machine-arn", arn, "--region", "us-east-1"]
    with TestStateStandIn(definitions={arn: json.dumps(suite["definition"])}, throttle_first=2) as stand_in:
        output = io.StringIO()
        with redirect_stdout(output), pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", "local")
            patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
            assert main([*argv, "--endpoint-url", stand_in.url]) == 0, output.getvalue()
        table = output.getvalue()
        assert f"{len(suite['entries'])} of {len(suite['entries'])} states agree with local mode" in table
        assert "Train both ways" in table and "CAUGHT_ERROR" in table
        sent = [r for r in stand_in.requests if r["target"] == "TestState"]
        # The two throttled requests were the first DescribeStateMachine calls: retried with backoff.
        assert [r["target"] for r in stand_in.requests[:3]] == ["DescribeStateMachine"] * 3
        assert len(sent) == len(suite["entries"])
        assert all(r["mock"]["fieldValidationMode"] == "STRICT" for r in sent if "mock" in r)

        # A difference names the state and the JSON path; a Task without a mock is never sent.
        tampered = copy.deepcopy(suite)
        first = next(e for e in tampered["entries"] if e["stateName"] == "Validate input")
        first["output"] = json.dumps({**json.loads(first["output"]), "extra": 1})
        unmocked = next(e for e in tampered["entries"] if e["stateName"] == "Profile base year")
        del unmocked["mock"]
        path.write_text(json.dumps(tampered))
        before = len(stand_in.requests)
        output = io.StringIO()
        with redirect_stdout(output), pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", "local")
            patch.setenv("AWS_SECRET_ACCESS_KEY", "local")
            assert main([*argv, "--endpoint-url", stand_in.url]) == 1
        table = output.getvalue()
        assert "DIFFERS: Validate input: output differs at $.extra" in table
        assert "DIFFERS: Profile base year: 'Profile base year' is a Task state and the request has no mock" in table
        assert "Profile base year" not in {r.get("stateName") for r in stand_in.requests[before:]}


def test_the_stand_in_refuses_a_broken_mock_as_STRICT_does(suites: dict[str, dict[str, Any]]) -> None:
    suite = suites["ts-default"]
    entry = copy.deepcopy(next(e for e in suite["entries"] if e.get("integration") == "sagemaker:DescribeTrainingJob"))
    result = json.loads(entry["mock"]["result"])
    del result["TrainingJobStatus"]
    entry["mock"]["result"] = json.dumps(result)
    missing = "TrainingJobStatus: required member of"
    with TestStateStandIn() as stand_in, pytest.raises(ServiceError, match=missing):
        stand_in.handle("TestState", request_of(entry, json.dumps(suite["definition"])))
