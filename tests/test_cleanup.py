"""Clean-up Lambdas against an in-memory SageMaker whose requests are validated by botocore's model."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from moto import mock_aws

from lambdas.cleanup import handler as cleanup_handler
from lambdas.cleanup.sagemaker_cleanup import CleanupIncompleteError, cleanup_run, cleanup_stack, run_names

REGION_ARN = "arn:aws:sagemaker:us-east-1:123456789012"
_MODELS = {name: botocore.session.get_session().get_service_model(name)
           for name in ("sagemaker", "stepfunctions", "logs")}
TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"


def _validated(service: str, operation: str, params: dict[str, Any]) -> None:
    model = _MODELS[service]
    op_name = next(o for o in model.operation_names if botocore.xform_name(o) == operation)
    validate_parameters(params, model.operation_model(op_name).input_shape)


def _missing(kind: str, name: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": f'Could not find {kind} "{name}".'}},
                       operation)


class FakeSageMaker:
    """Training jobs, endpoints, endpoint configs and models with tags; Deleting endpoints vanish on tick()."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.transforms: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tag_lookups = 0

    def add_run(self, name: str, stack: str, *, job: str = "Completed", endpoint: str | None = "InService") -> None:
        tags = [{"Key": "shardlab:stack", "Value": stack}]
        self.jobs[name] = {"status": job, "arn": f"{REGION_ARN}:training-job/{name}", "tags": tags}
        if endpoint:
            self.endpoints[name] = {"status": endpoint, "arn": f"{REGION_ARN}:endpoint/{name}", "tags": tags}
        self.configs[name] = {"arn": f"{REGION_ARN}:endpoint-config/{name}", "tags": tags}
        self.models[name] = {"arn": f"{REGION_ARN}:model/{name}", "tags": tags}

    def tick(self) -> None:
        self.endpoints = {n: e for n, e in self.endpoints.items() if e["status"] != "Deleting"}
        for job in [*self.jobs.values(), *self.transforms.values()]:
            if job["status"] == "Stopping":
                job["status"] = "Stopped"

    def add_transform(self, name: str, stack: str, status: str = "InProgress") -> None:
        self.transforms[name] = {"status": status, "arn": f"{REGION_ARN}:transform-job/{name}",
                                 "tags": [{"Key": "shardlab:stack", "Value": stack}]}

    def describe_transform_job(self, **params: Any) -> dict[str, Any]:
        self._call("describe_transform_job", params)
        name = params["TransformJobName"]
        if name not in self.transforms:
            raise ClientError({"Error": {"Code": "ValidationException",
                                         "Message": f"Could not find requested job with name {name}"}},
                              "DescribeTransformJob")
        return {"TransformJobName": name, "TransformJobStatus": self.transforms[name]["status"]}

    def stop_transform_job(self, **params: Any) -> dict[str, Any]:
        self._call("stop_transform_job", params)
        self.transforms[params["TransformJobName"]]["status"] = "Stopping"
        return {}

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        _validated("sagemaker", operation, params)
        self.calls.append((operation, params))

    def describe_training_job(self, **params: Any) -> dict[str, Any]:
        self._call("describe_training_job", params)
        name = params["TrainingJobName"]
        if name not in self.jobs:
            raise _missing("training job", name, "DescribeTrainingJob")
        return {"TrainingJobName": name, "TrainingJobStatus": self.jobs[name]["status"]}

    def stop_training_job(self, **params: Any) -> dict[str, Any]:
        self._call("stop_training_job", params)
        self.jobs[params["TrainingJobName"]]["status"] = "Stopping"
        return {}

    def describe_endpoint(self, **params: Any) -> dict[str, Any]:
        self._call("describe_endpoint", params)
        name = params["EndpointName"]
        if name not in self.endpoints:
            raise _missing("endpoint", name, "DescribeEndpoint")
        return {"EndpointName": name, "EndpointStatus": self.endpoints[name]["status"]}

    def delete_endpoint(self, **params: Any) -> dict[str, Any]:
        self._call("delete_endpoint", params)
        name = params["EndpointName"]
        if name not in self.endpoints:
            raise _missing("endpoint", name, "DeleteEndpoint")
        self.endpoints[name]["status"] = "Deleting"
        return {}

    def delete_endpoint_config(self, **params: Any) -> dict[str, Any]:
        self._call("delete_endpoint_config", params)
        if self.configs.pop(params["EndpointConfigName"], None) is None:
            raise _missing("endpoint configuration", params["EndpointConfigName"], "DeleteEndpointConfig")
        return {}

    def delete_model(self, **params: Any) -> dict[str, Any]:
        self._call("delete_model", params)
        if self.models.pop(params["ModelName"], None) is None:
            raise _missing("model", params["ModelName"], "DeleteModel")
        return {}

    def add_tags(self, **params: Any) -> dict[str, Any]:
        self._call("add_tags", params)
        for store in (self.jobs, self.endpoints, self.configs, self.models):
            for item in store.values():
                if item["arn"] == params["ResourceArn"]:
                    item["tags"] = [*item["tags"], *params["Tags"]]
                    return {"Tags": item["tags"]}
        raise _missing("resource", params["ResourceArn"], "AddTags")

    def list_tags(self, **params: Any) -> dict[str, Any]:
        self._call("list_tags", params)
        self.tag_lookups += 1
        for store in (self.jobs, self.endpoints, self.configs, self.models, self.transforms):
            for item in store.values():
                if item["arn"] == params["ResourceArn"]:
                    return {"Tags": item["tags"]}
        raise _missing("resource", params["ResourceArn"], "ListTags")

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **params: Any) -> list[dict[str, Any]]:
                fake._call(operation, params)
                contains = params.get("NameContains", "")
                if operation == "list_training_jobs":
                    items = [{"TrainingJobName": n, "TrainingJobArn": j["arn"], "TrainingJobStatus": j["status"]}
                             for n, j in fake.jobs.items()
                             if contains in n and j["status"] == params.get("StatusEquals", j["status"])]
                    return [{"TrainingJobSummaries": items}]
                if operation == "list_transform_jobs":
                    return [{"TransformJobSummaries": [
                        {"TransformJobName": n, "TransformJobArn": j["arn"], "TransformJobStatus": j["status"]}
                        for n, j in fake.transforms.items() if contains in n]}]
                stores = {"list_endpoints": ("Endpoints", "Endpoint", fake.endpoints),
                          "list_endpoint_configs": ("EndpointConfigs", "EndpointConfig", fake.configs),
                          "list_models": ("Models", "Model", fake.models)}
                key, label, store = stores[operation]
                return [{key: [{f"{label}Name": n, f"{label}Arn": i["arn"]}
                               for n, i in store.items() if contains in n]}]

        return Paginator()


class FakeStepFunctions:
    def __init__(self, running: list[str]) -> None:
        self.running = running
        self.stopped: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **params: Any) -> list[dict[str, Any]]:
                _validated("stepfunctions", operation, params)
                return [{"executions": [{"executionArn": arn} for arn in fake.running]}]

        return Paginator()

    def stop_execution(self, **params: Any) -> dict[str, Any]:
        _validated("stepfunctions", "stop_execution", params)
        self.running.remove(params["executionArn"])
        self.stopped.append(params["executionArn"])
        return {}


RUN = ["shardlab-r1-abc-replicated", "shardlab-r1-abc-sharded"]


@pytest.fixture
def logs() -> Iterator[Any]:
    """moto's CloudWatch Logs; every request is checked against botocore's logs model and recorded."""
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.calls = []

        def record(model: Any, params: dict[str, Any], **_: Any) -> None:
            _validated("logs", botocore.xform_name(model.name), params)
            client.calls.append((model.name, params))

        client.meta.events.register("provide-client-params.logs", record)
        yield client


def write_sagemaker_logs(logs: Any, name: str, *, hosts: int = 2) -> None:
    """What SageMaker writes for a job + endpoint of this name (group per endpoint, shared training group)."""
    if not logs.describe_log_groups(logGroupNamePrefix=TRAINING_LOGS)["logGroups"]:
        logs.create_log_group(logGroupName=TRAINING_LOGS)
    for host in range(1, hosts + 1):
        logs.create_log_stream(logGroupName=TRAINING_LOGS, logStreamName=f"{name}/algo-{host}-1767225600")
    logs.create_log_group(logGroupName=f"/aws/sagemaker/Endpoints/{name}")
    logs.create_log_stream(logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName="AllTraffic/i-0abc")


def log_groups(logs: Any) -> set[str]:
    return {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}


def training_streams(logs: Any) -> set[str]:
    return {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=TRAINING_LOGS)["logStreams"]}


def test_run_cleanup_stops_training_and_deletes_everything_of_the_run(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab", job="InProgress")
    sagemaker.add_run(RUN[1], "shardlab")
    sagemaker.add_run("shardlab-other-run-sharded", "shardlab")
    # Names that start like the run's: a stream of job "<name>2" must survive "<name>/" prefix deletion.
    for name in [*RUN, "shardlab-other-run-sharded", f"{RUN[0]}2"]:
        write_sagemaker_logs(logs, name)
    # Waiting (each sleep lets SageMaker move on) until the job stopped and the endpoints are gone.
    report = cleanup_run(sagemaker, logs, RUN, settle_seconds=30, sleep=lambda _: sagemaker.tick())
    assert report.stopped_training_jobs == [RUN[0]]
    assert report.deleted_endpoints == RUN and report.deleted_endpoint_configs == RUN
    assert report.deleted_models == RUN and report.pending == []
    assert set(sagemaker.configs) == set(sagemaker.models) == {"shardlab-other-run-sharded"}
    assert sagemaker.endpoints["shardlab-other-run-sharded"]["status"] == "InService"
    assert report.deleted_log_groups == [f"/aws/sagemaker/Endpoints/{name}" for name in RUN]
    assert sorted(report.deleted_log_streams) == sorted(
        f"{TRAINING_LOGS}:{name}/algo-{host}-1767225600" for name in RUN for host in (1, 2))
    assert log_groups(logs) == {TRAINING_LOGS, "/aws/sagemaker/Endpoints/shardlab-other-run-sharded",
                                f"/aws/sagemaker/Endpoints/{RUN[0]}2"}
    assert training_streams(logs) == {f"{name}/algo-{host}-1767225600" for name in
                                      ("shardlab-other-run-sharded", f"{RUN[0]}2") for host in (1, 2)}


def test_run_cleanup_keeps_logs_until_the_job_stopped_and_the_endpoint_is_gone(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab", job="InProgress")
    write_sagemaker_logs(logs, RUN[0])
    event = {"names": {"replicated": RUN[0]}}
    with pytest.raises(CleanupIncompleteError) as first:
        cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert f"endpoint/{RUN[0]} (Deleting)" in str(first.value)
    assert f"training-job/{RUN[0]} (Stopping)" in str(first.value)
    # Still written to: nothing of the logs is touched.
    assert f"/aws/sagemaker/Endpoints/{RUN[0]}" in log_groups(logs)
    assert len(training_streams(logs)) == 2
    assert [op for op, _ in logs.calls if op.startswith("Delete")] == []
    sagemaker.tick()
    result = cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert result["deletedLogGroups"] == [f"/aws/sagemaker/Endpoints/{RUN[0]}"]
    assert len(result["deletedLogStreams"]) == 2 and training_streams(logs) == set()
    # The streams were found by the job's own prefix (with its "/"), page by page.
    assert ("DescribeLogStreams", {"logGroupName": TRAINING_LOGS, "logStreamNamePrefix": f"{RUN[0]}/"}) in logs.calls


def test_run_cleanup_deletes_every_page_of_a_jobs_streams(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[1], "shardlab", endpoint=None)
    write_sagemaker_logs(logs, RUN[1], hosts=75)  # DescribeLogStreams answers at most 50 per page
    report = cleanup_run(sagemaker, logs, [RUN[1]])
    assert len(report.deleted_log_streams) == 75 and training_streams(logs) == set()
    assert sum(op == "DescribeLogStreams" for op, _ in logs.calls) >= 2


def test_run_cleanup_when_sagemaker_never_logged_anything(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab")
    sagemaker.endpoints.clear()
    report = cleanup_run(sagemaker, logs, [RUN[0]])  # no TrainingJobs group, no endpoint group
    assert report.pending == [] and report.deleted_log_groups == report.deleted_log_streams == []


def test_run_cleanup_is_idempotent(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab")
    event = {"names": {"replicated": RUN[0], "sharded": RUN[1]}}
    with pytest.raises(CleanupIncompleteError, match="Deleting"):  # its endpoint's logs wait for it to go
        cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert sagemaker.endpoints[RUN[0]]["status"] == "Deleting"
    sagemaker.tick()
    cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    second = cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert second == {"stoppedTrainingJobs": [], "stoppedTransformJobs": [], "deletedEndpoints": [],
                      "deletedEndpointConfigs": [], "deletedModels": [], "stoppedExecutions": [],
                      "deletedLogGroups": [], "deletedLogStreams": [], "pending": []}


def test_run_cleanup_retries_while_an_endpoint_is_still_creating(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab", endpoint="Creating")
    write_sagemaker_logs(logs, RUN[0])
    with pytest.raises(CleanupIncompleteError, match=f"endpoint/{RUN[0]} \\(Creating\\)"):
        cleanup_handler.run_cleanup_with(sagemaker, logs, {"names": {"replicated": RUN[0]}}, settle_seconds=30)
    assert RUN[0] not in sagemaker.models  # everything else is already gone
    assert f"/aws/sagemaker/Endpoints/{RUN[0]}" in log_groups(logs) and training_streams(logs) == set()
    sagemaker.endpoints[RUN[0]]["status"] = "Failed"
    result = cleanup_handler.run_cleanup_with(sagemaker, logs, {"names": {"replicated": RUN[0]}},
                                              settle_seconds=30, sleep=lambda _: sagemaker.tick())
    assert result["deletedEndpoints"] == [RUN[0]]
    assert result["deletedLogGroups"] == [f"/aws/sagemaker/Endpoints/{RUN[0]}"]


def test_run_cleanup_surfaces_errors_other_than_not_found(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab")

    def denied(**_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DeleteModel")

    sagemaker.delete_model = denied  # type: ignore[method-assign]
    with pytest.raises(ClientError, match="AccessDenied"):
        cleanup_run(sagemaker, logs, [RUN[0]])


@pytest.mark.parametrize("event", [{}, {"names": {}}, {"names": {"replicated": ""}}, {"names": ["a"]}])
def test_run_cleanup_rejects_events_without_names(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="names"):
        cleanup_handler.run_cleanup_with(FakeSageMaker(), None, event)


def test_guard_cleans_only_this_stacks_resources_and_waits_until_endpoints_are_gone(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab", job="InProgress")
    sagemaker.add_run(RUN[1], "shardlab", endpoint="Creating")
    # Another stack whose prefix starts with ours, and something unrelated that merely contains it.
    sagemaker.add_run("shardlab-dev-r9-def-sharded", "shardlab-dev", job="InProgress")
    sagemaker.add_run("my-shardlab-thing", "someone-else")
    # A run that kept its endpoints, long finished, and one whose endpoint was deleted by hand.
    sagemaker.add_run("shardlab-r0-old-sharded", "shardlab")
    sagemaker.add_run("shardlab-r0-old-replicated", "shardlab", endpoint=None)
    neighbours = ["shardlab-dev-r9-def-sharded", "my-shardlab-thing"]
    for name in [*RUN, *neighbours, "shardlab-r0-old-sharded", "shardlab-r0-old-replicated"]:
        write_sagemaker_logs(logs, name)
    sfn = FakeStepFunctions(["arn:aws:states:us-east-1:123456789012:execution:shardlab-pipeline:r1"])
    state_machine = "arn:aws:states:us-east-1:123456789012:stateMachine:shardlab-pipeline"

    first = cleanup_stack(sagemaker, sfn, logs, prefix="shardlab", state_machine_arn=state_machine)
    assert first.stopped_executions == sfn.stopped and sfn.running == []
    assert first.stopped_training_jobs == [RUN[0]]
    assert first.deleted_endpoints == [RUN[0], "shardlab-r0-old-sharded"]
    assert sorted(first.pending) == sorted([f"training-job/{RUN[0]}", f"endpoint/{RUN[0]} (Deleting)",
                                            f"endpoint/{RUN[1]} (Creating)",
                                            "endpoint/shardlab-r0-old-sharded (Deleting)"])
    # Only the logs nothing writes any more: the hand-deleted endpoint's group, the finished jobs' streams.
    assert first.deleted_log_groups == ["/aws/sagemaker/Endpoints/shardlab-r0-old-replicated"]
    assert {s.split(":")[1].split("/algo")[0] for s in first.deleted_log_streams} == {
        RUN[1], "shardlab-r0-old-sharded", "shardlab-r0-old-replicated"}
    sagemaker.tick()
    sagemaker.endpoints[RUN[1]]["status"] = "InService"
    second = cleanup_stack(sagemaker, sfn, logs, prefix="shardlab", state_machine_arn=state_machine)
    assert second.deleted_endpoints == [RUN[1]] and second.pending == [f"endpoint/{RUN[1]} (Deleting)"]
    sagemaker.tick()
    third = cleanup_stack(sagemaker, sfn, logs, prefix="shardlab", state_machine_arn=state_machine)
    assert third.pending == []
    assert log_groups(logs) == {TRAINING_LOGS, *(f"/aws/sagemaker/Endpoints/{n}" for n in neighbours)}
    assert training_streams(logs) == {f"{n}/algo-{h}-1767225600" for n in neighbours for h in (1, 2)}

    others = {"shardlab-dev-r9-def-sharded", "my-shardlab-thing"}
    assert set(sagemaker.endpoints) == set(sagemaker.configs) == set(sagemaker.models) == others
    assert sagemaker.jobs["shardlab-dev-r9-def-sharded"]["status"] == "InProgress"
    assert all(e["status"] == "InService" for e in sagemaker.endpoints.values())


def test_guard_handlers_follow_the_provider_framework(monkeypatch: pytest.MonkeyPatch, logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab")
    write_sagemaker_logs(logs, RUN[0])
    sfn = FakeStepFunctions([])
    clients = {"sagemaker": sagemaker, "stepfunctions": sfn, "logs": logs}
    monkeypatch.setattr(cleanup_handler.boto3, "client", lambda service, **_: clients[service])
    monkeypatch.setenv("SHARDLAB_PREFIX", "shardlab")
    monkeypatch.setenv("SHARDLAB_STATE_MACHINE_ARN",
                       "arn:aws:states:us-east-1:123456789012:stateMachine:shardlab-pipeline")

    created = cleanup_handler.on_event({"RequestType": "Create"}, None)
    assert created == {"PhysicalResourceId": "shardlab-cleanup-guard"}
    assert cleanup_handler.is_complete({"RequestType": "Create"}, None) == {"IsComplete": True}
    assert sagemaker.calls == []  # nothing is touched outside Delete

    delete = {"RequestType": "Delete", "PhysicalResourceId": "shardlab-cleanup-guard"}
    assert cleanup_handler.on_event(delete, None) == {"PhysicalResourceId": "shardlab-cleanup-guard"}
    assert cleanup_handler.is_complete(delete, None) == {"IsComplete": False}  # endpoint still Deleting
    sagemaker.tick()
    assert cleanup_handler.is_complete(delete, None) == {"IsComplete": True}
    assert not sagemaker.endpoints and not sagemaker.models and not sagemaker.configs
    assert log_groups(logs) == {TRAINING_LOGS} and training_streams(logs) == set()


def test_failure_summary_names_the_stage_and_keeps_the_original_error_and_cause() -> None:
    from lambdas.cleanup.handler import MAX_CAUSE_LENGTH, failure_summary

    summary = failure_summary({"stage": "Training", "error": {"Error": "States.TaskFailed", "Cause": '{"x": 1}'}})
    assert summary == {"Error": "TrainingFailed", "Cause": 'States.TaskFailed: {"x": 1}'}
    # A Fail state may not re-raise a States.* name; the summary never does.
    assert not summary["Error"].startswith("States.")
    assert failure_summary({"stage": "Hosting", "error": {"Error": "EndpointFailed"}})["Cause"] == (
        "EndpointFailed: (no cause given)"
    )
    assert len(failure_summary({"stage": "Comparison", "error": {"Error": "E", "Cause": "x" * 40000}})["Cause"]) == (
        MAX_CAUSE_LENGTH
    )


def test_guard_passes_skip_logs_already_deleted_and_bound_their_log_work(logs: Any) -> None:
    """SageMaker keeps every job, so a pass must not walk the logs of every run the stack ever had again: a job
    whose logs a pass deleted is tagged and skipped; and a pass past its log budget leaves the rest pending."""
    sagemaker = FakeSageMaker()
    names = [f"shardlab-r{i}-old-{branch}" for i in range(3) for branch in ("replicated", "sharded")]
    for name in names:
        sagemaker.add_run(name, "shardlab", endpoint=None)
        write_sagemaker_logs(logs, name)
    sfn = FakeStepFunctions([])
    ticks = iter(range(100))

    def clock() -> float:  # every call is one second later: a budget of 2.5 s covers two jobs
        return float(next(ticks))

    first = cleanup_stack(sagemaker, sfn, logs, prefix="shardlab", state_machine_arn=None,
                          log_budget_seconds=2.5, clock=clock)
    assert first.pending == [f"logs of training-job/{name} (next pass)" for name in names[2:]]
    assert len(first.deleted_log_groups) == 2
    logs.calls.clear()
    rest = cleanup_stack(sagemaker, sfn, logs, prefix="shardlab", state_machine_arn=None)
    assert rest.pending == [] and len(rest.deleted_log_groups) == 4
    assert {params.get("logGroupName") for _, params in logs.calls if "logGroupName" in params} >= {
        f"/aws/sagemaker/Endpoints/{name}" for name in names[2:]}
    logs.calls.clear()
    again = cleanup_stack(sagemaker, sfn, logs, prefix="shardlab", state_machine_arn=None)
    assert again.pending == [] and logs.calls == []  # every job is marked: no log request at all
    assert all({"Key": "shardlab:logsDeleted", "Value": "true"} in job["tags"] for job in sagemaker.jobs.values())


def test_run_cleanup_stops_the_runs_transform_jobs_and_waits_for_them(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_run(RUN[0], "shardlab", endpoint=None)
    sagemaker.add_transform(RUN[0], "shardlab")
    sagemaker.add_transform(RUN[1], "shardlab", status="Completed")
    event = {"names": {"replicated": RUN[0], "sharded": RUN[1]}}
    with pytest.raises(CleanupIncompleteError, match=f"transform-job/{RUN[0]} \\(Stopping\\)"):
        cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert sagemaker.transforms[RUN[0]]["status"] == "Stopping"
    assert ("stop_transform_job", {"TransformJobName": RUN[1]}) not in sagemaker.calls  # Completed: left alone
    sagemaker.tick()
    done = cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert done["pending"] == [] and RUN[0] not in sagemaker.models


def test_stack_cleanup_stops_the_stacks_tagged_transform_jobs_only(logs: Any) -> None:
    sagemaker = FakeSageMaker()
    sagemaker.add_transform(RUN[0], "shardlab")
    sagemaker.add_transform("shardlab-dev-r2-sharded", "shardlab-dev")  # another stack's, same name prefix
    report = cleanup_stack(sagemaker, FakeStepFunctions([]), logs, prefix="shardlab", state_machine_arn=None)
    assert report.stopped_transform_jobs == [RUN[0]]
    assert report.pending == [f"transform-job/{RUN[0]}"]
    assert sagemaker.transforms["shardlab-dev-r2-sharded"]["status"] == "InProgress"
    sagemaker.tick()
    again = cleanup_stack(sagemaker, FakeStepFunctions([]), logs, prefix="shardlab", state_machine_arn=None)
    assert again.pending == []


def hand_made_sweep(run: str, counts: tuple[int, ...] = (1, 2), epochs: tuple[str, ...] = ("2", "4")) -> dict[str, Any]:
    """A `config.sweep` as the first state writes it: the grid, and per point its overrides (names, runPrefix)."""
    points = []
    for number, (count, epoch) in enumerate(itertools.product(counts, epochs), start=1):
        point = f"p{number:02d}"
        points.append({"point": point, "instanceCount": count, "hyperParameters": {"epochs": epoch},
                       "config": {"instanceCount": count,
                                  "names": {branch: f"{run}-{point}-{branch}" for branch in ("replicated", "sharded")},
                                  "runPrefix": f"runs/{run}/points/{point}/"}})
    return {"grid": {"instanceCount": list(counts), "hyperParameters": {"epochs": list(epochs)}}, "points": points}


def test_a_sweeps_clean_up_names_every_points_resources_and_the_runs_own() -> None:
    sweep = hand_made_sweep("shardlab-r1-abc")
    names = run_names({"replicated": RUN[0], "sharded": RUN[1]}, sweep)
    points = [f"shardlab-r1-abc-p0{i}-{branch}" for i in range(1, 5) for branch in ("replicated", "sharded")]
    assert names == sorted([*RUN, *points])
    assert run_names({"replicated": RUN[0], "sharded": RUN[1]}, None) == RUN


def test_a_failed_sweeps_clean_up_leaves_nothing_of_any_point(logs: Any) -> None:
    """One point failed while others still trained or scored, one never started: every point's jobs stop, every
    model and log goes; another run's resources stay."""
    sweep = hand_made_sweep("shardlab-r1-abc")
    point_names = [point["config"]["names"] for point in sweep["points"]]
    sagemaker = FakeSageMaker()
    for branch, job in (("replicated", "Failed"), ("sharded", "InProgress")):  # p01: one job failed
        sagemaker.add_run(point_names[0][branch], "shardlab", job=job, endpoint=None)
    for name in point_names[1].values():  # p02: trained, scoring
        sagemaker.add_run(name, "shardlab", endpoint=None)
        sagemaker.add_transform(name, "shardlab")
    for name in point_names[2].values():  # p03: still training; p04 never started
        sagemaker.add_run(name, "shardlab", job="InProgress", endpoint=None)
    sagemaker.add_run("shardlab-other-run-sharded", "shardlab", endpoint=None)
    started = [name for names in point_names[:3] for name in names.values()]
    for name in [*started, "shardlab-other-run-sharded"]:
        write_sagemaker_logs(logs, name)
    event = {"names": {"replicated": RUN[0], "sharded": RUN[1]}, "sweep": sweep,
             "failure": {"stage": "Sweep", "error": {"Error": "States.TaskFailed", "Cause": "p01 failed"}}}
    with pytest.raises(CleanupIncompleteError, match="Stopping"):
        cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    sagemaker.tick()
    result = cleanup_handler.run_cleanup_with(sagemaker, logs, event)
    assert result["pending"] == [] and result["failure"]["Error"] == "SweepFailed"
    assert set(sagemaker.models) == {"shardlab-other-run-sharded"}
    assert [name for name, job in sagemaker.jobs.items() if job["status"] in ("InProgress", "Stopping")] == []
    assert all(job["status"] != "InProgress" for job in sagemaker.transforms.values())
    assert training_streams(logs) == {f"shardlab-other-run-sharded/algo-{host}-1767225600" for host in (1, 2)}
    # every point's name was asked about, the one that never started too
    described = {params["TrainingJobName"] for op, params in sagemaker.calls if op == "describe_training_job"}
    assert {*point_names[3].values()} <= described
