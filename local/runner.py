"""Local mode: the synthesized state machine, executed on one machine with no AWS account.

``LocalShardlab`` "deploys" the synthesized template into an in-process AWS emulation and runs executions:

* moto provides S3, IAM, STS, CloudWatch and Step Functions (its real ASL interpreter runs the definition
  decoded from the template, unchanged);
* ``local.sfn_hooks`` runs the Lambda tasks with the project's real handlers in-process and adds
  ``sagemaker:createTrainingJob.sync``;
* the local SageMaker (``local.sagemaker`` + ``local.server``) answers every SageMaker control-plane and
  runtime call on 127.0.0.1, reached through boto3's standard ``AWS_ENDPOINT_URL_SAGEMAKER*`` settings;
* the bundled GDELT sample sits in a local ``gdelt-open-data`` bucket under ``events/``, where the real files are.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.server import ThreadedMotoServer

from local import sfn_hooks
from local.cfn import LocalDeployment
from local.executions import HistoryListener, wait_for_execution
from local.fake_aws import ACCOUNT_ID, REGION, role_arn
from local.hosting import EndpointRegistry
from local.sagemaker.control_plane import LocalSageMaker
from local.sagemaker.faults import FaultPlan
from local.server import LocalSageMakerServer
from local.template import (
    LAMBDA_TYPE,
    lambda_functions,
    resources_of_type,
    state_machine_definition,
    state_machine_logical_id,
)
from local.teststate.recorder import Recorder, recording
from stacks.paths import REPO_ROOT

SAMPLE_DIR = REPO_ROOT / "data" / "gdelt" / "events"
SOURCE_BUCKET = "gdelt-open-data"
SOURCE_PREFIX = "events/"

# Local defaults that differ from AWS's: nobody should wait 30 s between endpoint polls on one machine.
LOCAL_INPUT_DEFAULTS: dict[str, Any] = {"endpointPollSeconds": 1}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class LocalModeError(RuntimeError):
    """The template or the environment cannot be run in local mode."""


@dataclass(frozen=True)
class LambdaSpec:
    logical_id: str
    handler: str
    timeout_seconds: int
    environment: dict[str, str]


def load_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise LocalModeError(f"Lambda handler {handler!r} is not a function in lambdas/{module_name}")
    return function


def project_lambdas(deployment: LocalDeployment) -> list[LambdaSpec]:
    """The template's Lambda functions whose code is this project's ``lambdas/`` (not CDK's own helpers)."""
    specs = []
    for logical_id, function in lambda_functions(deployment.template).items():
        variables = deployment.resolve(function["environment"])
        specs.append(
            LambdaSpec(
                logical_id=logical_id,
                handler=function["handler"],
                timeout_seconds=int(function["timeout"]),
                environment={key: str(value) for key, value in variables.items()},
            )
        )
    if not specs:
        raise LocalModeError("the template has no Lambda functions with code from lambdas/")
    return specs


# Lambda's memory quota of a new account (CreateFunction refuses more; CloudFormation rolls the stack back).
LAMBDA_MEMORY_LIMIT_MB = 3008


def check_lambda_limits(deployment: LocalDeployment) -> None:
    """Refuse what CloudFormation's Lambda handler would refuse in a new account, with Lambda's message."""
    for logical_id, resource in resources_of_type(deployment.template, LAMBDA_TYPE).items():
        memory = int(resource.get("Properties", {}).get("MemorySize", 128))
        if memory > LAMBDA_MEMORY_LIMIT_MB:
            raise LocalModeError(
                f"{logical_id} CREATE_FAILED: Resource handler returned message: \"1 validation error detected: "
                f"Value '{memory}' at 'memorySize' failed to satisfy constraint: Member must have value less "
                f"than or equal to {LAMBDA_MEMORY_LIMIT_MB} (Service: Lambda, Status Code: 400)\" "
                f"(HandlerErrorCode: InvalidRequest)"
            )


def merged_environment(specs: list[LambdaSpec]) -> dict[str, str]:
    """Handlers run in one process, so their environments must agree where they overlap."""
    merged: dict[str, str] = {}
    for spec in specs:
        for key, value in spec.environment.items():
            if merged.get(key, value) != value:
                raise LocalModeError(f"Lambda environment variable {key} differs between functions")
            merged[key] = value
    return merged


def deployed_definition(deployment: LocalDeployment) -> tuple[str, dict[str, Any]]:
    """(logical id, definition) of the pipeline's state machine, its intrinsics resolved in the local account."""
    try:
        logical_id = state_machine_logical_id(deployment.template)
    except ValueError as error:
        raise LocalModeError(str(error)) from error
    return logical_id, state_machine_definition(deployment, logical_id)


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def upload_sample(s3: Any, sample_dir: Path = SAMPLE_DIR, years: list[int] | None = None) -> list[str]:
    """Put the bundled sample where the real files live: s3://gdelt-open-data/events/<year>.csv."""
    files = sorted(sample_dir.glob("*.csv"))
    if not files:
        raise LocalModeError(f"no GDELT sample files in {sample_dir}")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=SOURCE_BUCKET)
    keys = []
    for path in files:
        if years is not None and int(path.stem) not in years:
            continue
        key = f"{SOURCE_PREFIX}{path.name}"
        s3.upload_file(str(path), SOURCE_BUCKET, key)
        keys.append(key)
    return keys


def write_sdk_config(folder: Path) -> Path:
    """The SageMaker Python SDK's config file naming its default bucket, ``sagemaker-<region>-<account>``.

    ``Session().default_bucket()`` finds the account through STS at ``https://sts.<region>.amazonaws.com``,
    passed as an explicit ``endpoint_url`` that no ``AWS_ENDPOINT_URL*`` setting overrides; with the name
    configured (``SAGEMAKER_USER_CONFIG_OVERRIDE``), it only creates the bucket, in the served S3.
    """
    path = folder / "sagemaker-config.yaml"
    bucket = f"sagemaker-{REGION}-{ACCOUNT_ID}"
    path.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      Session:\n"
        f"        DefaultS3Bucket: {bucket}\n"
    )
    return path


class LocalShardlab:
    """The stack deployed into a local AWS emulation; executions run on moto's interpreter.

    Use as a context manager; everything (mock, server, hooks, environment) is undone on exit.
    ``control_plane_options`` go to the local SageMaker (time scale, injected faults); ``listener`` hears its
    training and endpoint events (the CLI's live view). With ``serve_aws``, moto's in-process state is also
    served on 127.0.0.1 (``aws_url``), so other processes (a notebook kernel) see the same S3 and CloudWatch;
    ``client_environment()`` gives them the settings.
    """

    def __init__(
        self,
        template: dict[str, Any],
        *,
        sample_dir: Path = SAMPLE_DIR,
        control_plane_options: dict[str, Any] | None = None,
        listener: Callable[[str, dict[str, Any]], None] | None = None,
        serve_aws: bool = False,
    ) -> None:
        self.deployment = LocalDeployment(template)
        self.sample_dir = sample_dir
        self.control_plane_options = control_plane_options or {}
        self.listener = listener
        self.serve_aws = serve_aws
        self.aws_url = ""
        self._stack = contextlib.ExitStack()
        self.state_machine_arn = ""
        self._sdk_config: Path | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> LocalShardlab:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        check_lambda_limits(self.deployment)
        specs = project_lambdas(self.deployment)
        self._stack.enter_context(patched_environ(_FAKE_CREDENTIALS))
        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))

        faults = self.control_plane_options.get("faults") or FaultPlan()
        self.registry = EndpointRegistry(invocation_failures=faults.invocation_failures)
        self.sagemaker = LocalSageMaker(registry=self.registry, listener=self.listener, **self.control_plane_options)
        self._stack.callback(self.sagemaker.shutdown)
        self.server = LocalSageMakerServer(registry=self.registry, control_plane=self.sagemaker)
        self.server.start()
        self._stack.callback(self.server.stop)
        self._stack.enter_context(
            patched_environ(
                {
                    "AWS_ENDPOINT_URL_SAGEMAKER": self.server.url,
                    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.server.url,
                    "AWS_ENDPOINT_URL_SERVICE_QUOTAS": self.server.url,  # local.service_quotas
                    "AWS_ENDPOINT_URL_PRICING": self.server.url,  # local.pricing
                    **merged_environment(specs),
                }
            )
        )
        functions = {
            self.deployment.physical_name(spec.logical_id): sfn_hooks.LocalFunction(
                load_handler(spec.handler), spec.timeout_seconds
            )
            for spec in specs
        }
        self._stack.enter_context(sfn_hooks.installed(functions))
        self.teststate = self._stack.enter_context(recording(Recorder()))  # every state entered (TestState suites)
        if self.serve_aws:
            self._serve_aws()
        self._deploy()

    def _serve_aws(self) -> None:
        # The threaded server answers from the same in-process backends as the mock.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._stack.callback(server.stop)
        host, port = server.get_host_and_port()
        self.aws_url = f"http://{host}:{port}"
        self._sdk_config = write_sdk_config(Path(self._stack.enter_context(tempfile.TemporaryDirectory())))

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point boto3 in another process at this local deployment."""
        environment = {
            **_FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL_SAGEMAKER": self.server.url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.server.url,
            "AWS_ENDPOINT_URL_SERVICE_QUOTAS": self.server.url,
            "AWS_ENDPOINT_URL_PRICING": self.server.url,
            "SHARDLAB_BUCKET": self.deployment.bucket_name,
        }
        if self.aws_url:
            environment["AWS_ENDPOINT_URL"] = self.aws_url  # every other service: moto, served
            environment["AWS_ENDPOINT_URL_STS"] = self.aws_url
        if self._sdk_config is not None:
            environment["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(self._sdk_config)
        return environment

    def _deploy(self) -> None:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=self.deployment.bucket_name)
        upload_sample(s3, self.sample_dir)
        logical_id, definition = deployed_definition(self.deployment)
        role = self.deployment.resolve(
            self.deployment.resources[logical_id]["Properties"].get("RoleArn", role_arn("sfn"))
        )
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name=self.deployment.physical_name(logical_id), definition=json.dumps(definition), roleArn=role
        )
        self.state_machine_arn = machine["stateMachineArn"]
        self.definition = definition

    # -- executions ----------------------------------------------------------------------------------------
    def start(self, execution_input: dict[str, Any] | None = None, *, name: str | None = None) -> str:
        payload = {**LOCAL_INPUT_DEFAULTS, **(execution_input or {})}
        sfn = boto3.client("stepfunctions")
        execution = sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name or f"local-{uuid.uuid4().hex[:12]}",
            input=json.dumps(payload),
        )
        return str(execution["executionArn"])

    def wait(
        self, execution_arn: str, *, timeout_seconds: float = 900, on_event: HistoryListener | None = None
    ) -> dict[str, Any]:
        return wait_for_execution(
            boto3.client("stepfunctions"), execution_arn, timeout_seconds=timeout_seconds, on_event=on_event
        )

    def run(
        self,
        execution_input: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        timeout_seconds: float = 900,
        on_event: HistoryListener | None = None,
    ) -> dict[str, Any]:
        return self.wait(self.start(execution_input, name=name), timeout_seconds=timeout_seconds, on_event=on_event)

    def write_teststate_suite(self, execution_dir: Path, execution_name: str) -> Path:
        """``<execution_dir>/teststate/suite.json``: the execution's states as TestState requests."""
        return self.teststate.write(execution_dir, self.definition, execution=execution_name)

    def stop(self, execution_arn: str, *, error: str = "UserStopped", cause: str = "") -> None:
        boto3.client("stepfunctions").stop_execution(executionArn=execution_arn, error=error, cause=cause)

    def read_object(self, key: str, bucket: str | None = None) -> bytes:
        body = boto3.client("s3").get_object(Bucket=bucket or self.deployment.bucket_name, Key=key)["Body"]
        return body.read()
