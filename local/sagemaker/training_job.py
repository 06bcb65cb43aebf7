"""A training job: its state, and the thread (``TrainingJob.run``) that takes it through SageMaker's statuses.

Times are *simulated* seconds; the thread sleeps ``simulated × time_scale`` real seconds, so ``time_scale=0``
runs as fast as the machine allows, ``1`` in real time.

- ``InProgress`` with SecondaryStatus ``Starting`` (instances launching, ``STARTING_SECONDS``) → ``Downloading``
  (reads every host's S3 objects, ``local.channels``) → ``Training`` (``local.linear_learner``; hyperparameter
  errors fail the job here, as the algorithm reports them) → ``Uploading`` (writes
  ``<S3OutputPath>/<job>/output/model.tar.gz``) → ``Completed``; or ``Failed`` with ``FailureReason``;
  ``StopTrainingJob`` → ``Stopping`` → ``Stopped``; exceeding ``MaxRuntimeInSeconds`` of simulated training time →
  ``Stopped`` with SecondaryStatus ``MaxRuntimeExceeded`` (``MaxWaitTimeExceeded`` for spot jobs whose
  MaxWaitTimeInSeconds runs out first).
- ``TrainingStartTime`` = CreationTime + STARTING_SECONDS; ``TrainingEndTime`` = start + simulated cluster
  training time (download + setup + compute, see ``local.linear_learner``) + upload. These are on the
  simulated timeline, so with a small ``time_scale`` they can lie ahead of the wall clock.
  ``TrainingTimeInSeconds`` = end - start; ``BillableTimeInSeconds`` = training time (wall clock, as AWS
  defines it: callers multiply by InstanceCount), times ``(1 - spot_savings)`` for managed spot jobs; the
  savings percentage is reported in the final secondary status message ("Managed spot training savings:
  70.0%"), as the SDK prints it.
- When the job starts ``Downloading`` its hosts write one log stream each (``local.sagemaker.logs``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from lambdas.lambda_common.vocabulary import FULLY_REPLICATED, parse_s3_uri
from local import linear_learner
from local.channels import TrainingInput, download_channels, s3_location
from local.checkpoints import S3Checkpoints
from local.errors import TrainingFailedError, TrainingStoppedError
from local.linear_learner import ClusterModel, EpochProgress, TrainingResult
from local.linear_model import LinearModel
from local.sagemaker.algorithm_metrics import (
    EPOCH_METRICS,
    METRIC_DEFINITIONS,
    epoch_lines,
    final_lines,
    final_metric_data,
    reported_metrics,
)
from local.sagemaker.faults import FaultPlan
from local.sagemaker.logs import SageMakerLogs
from local.sagemaker.validation import lower_first, null_member, validation_error

STARTING_SECONDS = 90.0  # assumption: instance provisioning ("Starting"), before TrainingStartTime
UPLOADING_SECONDS = 3.0
DEFAULT_MAX_RUNTIME_SECONDS = 86400  # SageMaker's default MaxRuntimeInSeconds (one day)
LINEAR_LEARNER_IMAGE = re.compile(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.[a-z0-9.]+/linear-learner(:[\w.-]+|@sha256:\w+)?")
RUNNING_STATUSES = ("InProgress", "Stopping")  # a job in these holds its instances (quotas count them)
_LOG_LOSS_NAMES = {"squared_loss": "mse"}  # how the algorithm names its objective in "<name>_objective"
# Request members DescribeTrainingJob returns as they were given.
PASSED_THROUGH = (
    "VpcConfig", "CheckpointConfig", "Environment", "RetryStrategy", "ExperimentConfig", "DebugHookConfig",
    "ProfilerConfig", "TensorBoardOutputConfig",
)
FINAL_MESSAGES = {
    "Completed": "Training job completed",
    "Failed": "Training job failed: {reason}",
    "Stopped": "Training job stopped",
}


class TrainingEnvironment(Protocol):
    """What a job uses of the control plane running it; read at each use (tests swap the faults or cluster)."""

    cluster: ClusterModel
    faults: FaultPlan
    spot_savings: float
    time_scale: float
    sagemaker_logs: SageMakerLogs
    clock: Callable[[], datetime]

    @property
    def s3(self) -> Any: ...

    def emit(self, kind: str, **payload: Any) -> None: ...

    def sleep(self, simulated_seconds: float, interrupt: threading.Event | None = None) -> None: ...


# ------------------------------------------------------------------------------------------------ the request


def check_training_request(request: Mapping[str, Any]) -> None:
    """CreateTrainingJob's rules beyond the service model: AWS's, and what local mode can run."""
    for member in ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition"):
        if member not in request:
            raise null_member(lower_first(member))
    image = request["AlgorithmSpecification"].get("TrainingImage")
    if not image or not LINEAR_LEARNER_IMAGE.fullmatch(image):
        raise validation_error(
            f"Local mode runs only the built-in linear-learner image "
            f"(<account>.dkr.ecr.<region>.amazonaws.com/linear-learner:1); got TrainingImage {image!r}"
        )
    resource = request["ResourceConfig"]
    if "InstanceCount" not in resource or "InstanceType" not in resource:
        raise validation_error("ResourceConfig needs InstanceType and InstanceCount for a training job")
    if resource["InstanceCount"] < 1:
        raise validation_error(f"ResourceConfig.InstanceCount must be at least 1; got {resource['InstanceCount']}")
    _check_stopping_condition(request["StoppingCondition"], spot=bool(request.get("EnableManagedSpotTraining")))
    _check_channels(request.get("InputDataConfig", []))
    output_path = request["OutputDataConfig"]["S3OutputPath"]
    if not output_path.startswith("s3://"):
        raise validation_error(f"S3OutputPath {output_path!r} is not an s3:// URI")


def _check_stopping_condition(stopping: Mapping[str, Any], *, spot: bool) -> None:
    if "MaxWaitTimeInSeconds" in stopping:
        if not spot:
            raise validation_error("MaxWaitTimeInSeconds can only be set when EnableManagedSpotTraining is true")
        if stopping["MaxWaitTimeInSeconds"] < stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS):
            raise validation_error("MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds")
    elif spot:
        raise validation_error("MaxWaitTimeInSeconds is required when EnableManagedSpotTraining is true")


def _check_channels(channels: list[Mapping[str, Any]]) -> None:
    names = [channel["ChannelName"] for channel in channels]
    if len(set(names)) != len(names):
        raise validation_error(f"Channel names must be unique; got {names}")
    for channel in channels:
        source = channel["DataSource"].get("S3DataSource")
        if source is None:
            raise validation_error(f"Channel {channel['ChannelName']}: local mode reads S3DataSource channels only")
        if source["S3DataType"] not in ("S3Prefix", "ManifestFile"):
            raise validation_error(
                f"Channel {channel['ChannelName']}: S3DataType {source['S3DataType']} is not supported "
                "in local mode (use S3Prefix or ManifestFile)"
            )
        if channel.get("CompressionType", "None") != "None":
            raise validation_error(f"Channel {channel['ChannelName']}: CompressionType Gzip is not supported locally")


def check_input_objects(s3: Any, request: Mapping[str, Any], region: str) -> None:
    """Every channel's prefix holds objects, or CreateTrainingJob answers as AWS does."""
    for channel in request.get("InputDataConfig", []):
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        try:
            bucket, prefix = parse_s3_uri(uri)
            found = bool(s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0))
        except Exception:  # a missing bucket lists nothing, as AWS words it
            found = False
        if not found:
            bucket = uri[5:].split("/", 1)[0]
            raise validation_error(
                f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that the '
                f"bucket exists in the selected region ({region}), that objects exist under that S3 "
                f'prefix, and that the role "{request["RoleArn"]}" has "s3:ListBucket" permissions on bucket '
                f'"{bucket}".'
            )


def upload_model(s3: Any, output_path: str, job_name: str, model: LinearModel) -> str:
    """``<S3OutputPath>/<job>/output/model.tar.gz``, as SageMaker names the artifact; returns its URI."""
    uri = f"{output_path.rstrip('/')}/{job_name}/output/model.tar.gz"
    bucket, key = s3_location(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=model.to_tar_gz())
    return uri


# ------------------------------------------------------------------------------------------------ the job


def _transition(status: str, message: str, start: datetime) -> dict[str, Any]:
    return {"Status": status, "StartTime": start, "StatusMessage": message}


class TrainingJob:
    """One job's state; ``run`` (its own thread) drives it, the control plane reads it and may stop it.

    Its lock guards its state; the control plane's lock only guards which jobs exist."""

    def __init__(
        self, *, name: str, arn: str, request: dict[str, Any], created: datetime, environment: TrainingEnvironment
    ) -> None:
        self.name = name
        self.arn = arn
        self.request = request
        self.created = created
        self._env = environment
        self._lock = threading.Lock()
        self._stop = threading.Event()  # StopTrainingJob, or the control plane closing
        resource = request["ResourceConfig"]
        self.instance_type: str = resource["InstanceType"]
        self.hosts = int(resource["InstanceCount"])
        self.spot = bool(request.get("EnableManagedSpotTraining"))
        stopping = request["StoppingCondition"]
        self.max_runtime = float(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS))
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        self.max_wait = None if max_wait is None else float(max_wait)
        self.status = "InProgress"
        self.secondary = "Starting"
        self.modified = created
        self.transitions = [_transition("Starting", "Launching requested ML instances", created)]
        self._start_at = created + timedelta(seconds=STARTING_SECONDS)  # when training starts, if it does
        self.start: datetime | None = None  # TrainingStartTime, once the job's thread runs
        self.end: datetime | None = None  # TrainingEndTime
        self.failure_reason: str | None = None
        self.training_seconds: int | None = None
        self.billable_seconds: int | None = None
        self.artifact_uri: str | None = None
        self.metrics: dict[str, float] = {}
        self.result: TrainingResult | None = None
        # Simulated seconds since TrainingStartTime: at the last phase boundary, and the latest any check saw.
        self._elapsed = 0.0
        self._progress = 0.0
        self._streams: list[str] = []  # one log stream per host, once the job downloads
        self._loss = "mse"  # the objective's name in the algorithm's log lines
        self._epochs: list[EpochProgress] = []
        self._epoch_seconds: list[float] = []  # each epoch's end in the job's time (a spot restart's lost time in)
        # Managed spot: an injected interruption (once), and the simulated seconds lost to it without checkpoints.
        self._interrupt_after = environment.faults.spot_interruption(name) if self.spot else None
        self._lost_seconds = 0.0
        checkpoint = request.get("CheckpointConfig")
        # Linear Learner snapshots its state for managed spot training (local.checkpoints).
        self.checkpoints = S3Checkpoints(environment.s3, checkpoint["S3Uri"]) if checkpoint and self.spot else None

    @property
    def holds_instances(self) -> bool:
        return self.status in RUNNING_STATUSES

    # --- the control plane's calls --------------------------------------------------------------------------

    def request_stop(self) -> None:
        """StopTrainingJob: ``Stopping`` now, ``Stopped`` at the job's next check."""
        with self._lock:
            if self.status != "InProgress":
                raise validation_error(
                    f"The request was rejected because the training job is in status {self.status}."
                )
            self.status = "Stopping"
            self._record_transition("Stopping", "Stopping the training job", self._env.clock())
            # Set last, under the lock: the job's thread, once woken, finds Stopping already recorded.
            self._stop.set()
        self._emit_status()

    def interrupt(self) -> None:
        """The control plane is closing: the job ends ``Stopped`` at its next check."""
        self._stop.set()

    def describe(self) -> dict[str, Any]:
        """The DescribeTrainingJob answer."""
        with self._lock:
            req = self.request
            response: dict[str, Any] = {
                "TrainingJobName": self.name,
                "TrainingJobArn": self.arn,
                "ModelArtifacts": {"S3ModelArtifacts": self.artifact_uri or ""},
                "TrainingJobStatus": self.status,
                "SecondaryStatus": self.secondary,
                "HyperParameters": dict(req.get("HyperParameters", {})),
                "AlgorithmSpecification": _described_algorithm(req["AlgorithmSpecification"]),
                "RoleArn": req["RoleArn"],
                "InputDataConfig": [_described_channel(channel) for channel in req.get("InputDataConfig", [])],
                # SageMaker fills in its defaults: no KMS key (""), and a gzipped artifact.
                "OutputDataConfig": {"KmsKeyId": "", "CompressionType": "GZIP", **req["OutputDataConfig"]},
                "ResourceConfig": dict(req["ResourceConfig"]),
                "StoppingCondition": dict(req["StoppingCondition"]),
                "CreationTime": self.created,
                "LastModifiedTime": self.modified,
                "SecondaryStatusTransitions": [dict(t) for t in self.transitions],
                "EnableNetworkIsolation": bool(req.get("EnableNetworkIsolation", False)),
                "EnableInterContainerTrafficEncryption": bool(req.get("EnableInterContainerTrafficEncryption", False)),
                "EnableManagedSpotTraining": self.spot,
                "ProfilingStatus": "Enabled" if req.get("ProfilerConfig") else "Disabled",
            }
            if self.secondary != "Starting" and self.start is not None:
                response["TrainingStartTime"] = self.start
            if self.end is not None:
                response["TrainingEndTime"] = self.end
                response["TrainingTimeInSeconds"] = self.training_seconds
                response["BillableTimeInSeconds"] = self.billable_seconds
            if self.failure_reason:
                response["FailureReason"] = self.failure_reason
            if self.metrics and self.end is not None:
                response["FinalMetricDataList"] = final_metric_data(self.metrics, self._last_epoch(), self.end)
            for optional in PASSED_THROUGH:
                if optional in req:
                    response[optional] = req[optional]
            return response

    def summary(self) -> dict[str, Any]:
        """The job's ListTrainingJobs entry."""
        with self._lock:
            return {
                "TrainingJobName": self.name,
                "TrainingJobArn": self.arn,
                "CreationTime": self.created,
                "LastModifiedTime": self.modified,
                "TrainingJobStatus": self.status,
                **({"TrainingEndTime": self.end} if self.end else {}),
                "SecondaryStatus": self.secondary,
            }

    # --- the lifecycle (the job's thread) ---------------------------------------------------------------------

    def run(self) -> None:
        """Starting → Downloading → Training → Uploading → Completed; or Failed, or Stopped."""
        self.start = self._start_at
        try:
            self._launch_delay()
            if self.max_wait is not None and self._env.faults.no_spot_capacity(self.name):
                self._wait_for_spot_capacity(self.max_wait)
                return
            self._starting()
            data = self._downloading()
            result = self._training(data)
            self._uploading(result)
        except TrainingStoppedError:
            self._finish_stopped(max(self._elapsed, self._progress))
        except TrainingFailedError as failure:
            self._finish("Failed", self._elapsed, self._start_at, failure_reason=failure.reason)
        except Exception as error:  # an unexpected error is the algorithm's, as AWS reports it
            reason = f"AlgorithmError: {type(error).__name__}: {error}"
            self._finish("Failed", self._elapsed, self._start_at, failure_reason=reason)

    def _launch_delay(self) -> None:
        delay = self._env.faults.training_delay(self.name)
        if delay > 0:  # injected: instances slow to launch (real seconds); a stop or close cuts it short
            self._stop.wait(delay)

    def _starting(self) -> None:
        self._env.sleep(STARTING_SECONDS, self._stop)
        self._check_stop(0.0)

    def _downloading(self) -> TrainingInput:
        self._advance("Downloading", "Downloading input data", self._start_at)
        self._streams = self._env.sagemaker_logs.training_started(self.name, self.hosts, self._env.clock())
        channels = {c["ChannelName"]: c for c in self.request.get("InputDataConfig", [])}
        data = download_channels(self._env.s3, channels, self.hosts)
        download_seconds = data.download_bytes / self._env.cluster.download_bytes_per_second
        self._env.sleep(download_seconds, self._stop)
        self._elapsed = download_seconds
        self._check_stop(self._elapsed)
        return data

    def _training(self, data: TrainingInput) -> TrainingResult:
        self._advance(
            "Training",
            "Training image download completed. Training in progress.",
            self._start_at + timedelta(seconds=self._elapsed),
        )
        params = linear_learner.parse_hyperparameters(self.request.get("HyperParameters", {}))
        self._loss = _LOG_LOSS_NAMES.get(params.effective_loss, params.effective_loss)
        injected = self._env.faults.training_failure(self.name)
        if injected is not None:
            raise TrainingFailedError(injected)
        while True:
            try:
                result = linear_learner.train(
                    params,
                    data.host_shards,
                    data.validation,
                    data.test,
                    instance_type=self.instance_type,
                    cluster=self._env.cluster,
                    progress=self._on_epoch,
                    should_stop=lambda simulated: self._should_stop(simulated + self._lost_seconds),
                    checkpoints=self.checkpoints,
                )
                break
            except _SpotInterruptedError as interrupted:
                self._restart_after_interruption(interrupted.simulated_seconds)
        result = self._with_lost_time(result)
        time_scale = self._env.time_scale
        if time_scale > 0:  # the training phase lasts its simulated time, scaled, wall time included
            remaining = (result.simulated_seconds - self._elapsed) * time_scale - result.wall_seconds
            self._env.sleep(max(remaining, 0.0) / time_scale, self._stop)
        self._elapsed = result.simulated_seconds
        self._check_stop(self._elapsed)
        return result

    def _uploading(self, result: TrainingResult) -> None:
        at = self._start_at + timedelta(seconds=self._elapsed)
        self._advance("Uploading", "Uploading generated training model", at)
        artifact = upload_model(self._env.s3, self.request["OutputDataConfig"]["S3OutputPath"], self.name, result.model)
        self._env.sleep(UPLOADING_SECONDS, self._stop)
        self._elapsed += UPLOADING_SECONDS
        self._finish("Completed", self._elapsed, self._start_at, result=result, artifact=artifact)

    def _report_metrics(self, result: TrainingResult, end: datetime) -> None:
        """algo-1's metric lines in its log stream, and their values in CloudWatch, as SageMaker scrapes them."""
        if not self._streams:
            return
        lines: list[tuple[datetime, str]] = []
        points: list[tuple[datetime, str, float]] = []
        for progress, seconds in zip(self._epochs, self._epoch_seconds, strict=True):
            at = self._start_at + timedelta(seconds=seconds)
            lines += [(at, line) for line in epoch_lines("algo-1", progress.epoch - 1, self._loss,
                                                        progress.train_loss, progress.validation_loss)]
            points.append((at, "train:objective_loss", progress.train_loss))
            if progress.validation_loss is not None:
                points.append((at, "validation:objective_loss", progress.validation_loss))
        lines += [(end, line) for line in final_lines("algo-1", self._loss, result.metrics)]
        points += [(end, name, value) for name, value in reported_metrics(result.metrics, self._last_epoch()).items()
                   if name not in EPOCH_METRICS]
        self._env.sagemaker_logs.training_lines(self._streams[0], lines)
        self._env.sagemaker_logs.training_metrics(self.name, points)

    def _last_epoch(self) -> dict[str, float]:
        """The per-epoch metrics' values in the last epoch's log lines."""
        if not self._epochs:
            return {}
        last = self._epochs[-1]
        values = {"train:objective_loss": last.train_loss}
        if last.validation_loss is not None:
            values["validation:objective_loss"] = last.validation_loss
        return values

    def _restart_after_interruption(self, simulated: float) -> None:
        """EC2 reclaimed the spot instances: SageMaker restarts the job on new ones (from the last checkpoint)."""
        at = self._start_at + timedelta(seconds=simulated + self._lost_seconds)
        if self.checkpoints is None:
            self._lost_seconds += simulated  # everything trained so far is redone
        self._advance("Interrupted", "Training job interrupted: the managed spot instances were reclaimed", at)
        self._advance("Starting", "Restarting the training job on new spot instances", at)
        self._advance("Downloading", "Downloading input data", at)
        self._advance("Training", "Training image download completed. Training in progress.", at)

    def _with_lost_time(self, result: TrainingResult) -> TrainingResult:
        if not self._lost_seconds:
            return result
        return dataclasses.replace(result, simulated_seconds=result.simulated_seconds + self._lost_seconds)

    def _on_epoch(self, progress: EpochProgress) -> None:
        self._epochs.append(progress)
        self._epoch_seconds.append(progress.simulated_seconds + self._lost_seconds)
        if self._interrupt_after == progress.epoch:
            self._interrupt_after = None  # once
            raise _SpotInterruptedError(progress.simulated_seconds)
        self._env.emit(
            "training.epoch",
            name=self.name,
            epoch=progress.epoch,
            epochs=progress.epochs,
            train_loss=progress.train_loss,
            validation_loss=progress.validation_loss,
            simulated_seconds=progress.simulated_seconds,
        )

    def _should_stop(self, simulated: float) -> bool:
        """A stop was asked for, or ``simulated`` seconds of training pass MaxRuntime (or spot MaxWait)."""
        self._progress = simulated
        return (
            self._stop.is_set()
            or simulated > self.max_runtime
            or (self.max_wait is not None and STARTING_SECONDS + simulated > self.max_wait)
        )

    def _check_stop(self, elapsed: float) -> None:
        if self._should_stop(elapsed):
            raise TrainingStoppedError()

    def _wait_for_spot_capacity(self, max_wait: float) -> None:
        """No spot capacity: the job waits in Starting until MaxWaitTimeInSeconds, then SageMaker ends it."""
        with self._lock:
            self.transitions[-1]["StatusMessage"] = (
                "Insufficient capacity error from EC2 while launching instances, retrying!"
            )
            self.start = None  # it never started training
        self._emit_status()
        self._env.sleep(max_wait, self._stop)
        if self._stop.is_set():
            self._finish("Stopped", 0.0, self.created)
            return
        self._finish(
            "Stopped",
            0.0,
            self.created,
            secondary="MaxWaitTimeExceeded",
            message=(
                f"Training job reached the MaxWaitTimeInSeconds stopping condition ({max_wait:g}s) while waiting "
                "for spot capacity"
            ),
        )

    def _finish_stopped(self, elapsed: float) -> None:
        if self._stop.is_set():
            self._finish("Stopped", elapsed, self._start_at)
        elif self.max_wait is not None and STARTING_SECONDS + elapsed > self.max_wait:
            self._finish(
                "Stopped",
                elapsed,
                self._start_at,
                secondary="MaxWaitTimeExceeded",
                message="Training job reached the MaxWaitTimeInSeconds stopping condition",
            )
        else:
            self._finish(
                "Stopped",
                min(elapsed, self.max_runtime),
                self._start_at,
                secondary="MaxRuntimeExceeded",
                message=f"Training job exceeded MaxRuntimeInSeconds ({self.max_runtime:g}s) and was stopped",
            )

    def _finish(
        self,
        status: str,
        elapsed: float,
        start: datetime,
        *,
        result: TrainingResult | None = None,
        artifact: str | None = None,
        failure_reason: str | None = None,
        secondary: str | None = None,
        message: str | None = None,
    ) -> None:
        end = start + timedelta(seconds=elapsed)
        training_seconds, billable = self._billed_seconds(elapsed)
        final_message = message or FINAL_MESSAGES[status].format(reason=failure_reason)
        if self.spot and status == "Completed":
            savings = (1 - billable / training_seconds) * 100
            final_message += f". Managed spot training savings: {savings:.1f}%"
        with self._lock:
            self.end = end
            self.training_seconds = training_seconds
            self.billable_seconds = billable
            self.failure_reason = failure_reason
            self.result = result
            self.artifact_uri = artifact
            if result is not None:
                self.metrics = dict(result.metrics)
        if result is not None:
            self._report_metrics(result, end)
        self._advance(secondary or status, final_message, end)
        with self._lock:
            self.transitions[-1]["EndTime"] = end
            self.status = status
            self.modified = self._env.clock()
        self._emit_status(reason=failure_reason)

    def _billed_seconds(self, elapsed: float) -> tuple[int, int]:
        """(TrainingTimeInSeconds, BillableTimeInSeconds) of ``elapsed`` simulated seconds of training."""
        training_seconds = max(math.ceil(elapsed), 1)
        # AWS: billable time is wall-clock time; callers multiply by InstanceCount for instance-seconds.
        if not self.spot:
            return training_seconds, training_seconds
        # round(): 10 s x 0.3 is 3 s, not 4
        return training_seconds, max(math.ceil(round(training_seconds * (1 - self._env.spot_savings), 9)), 1)

    def _advance(self, secondary: str, message: str, at: datetime) -> None:
        with self._lock:
            self._record_transition(secondary, message, at)
        self._env.emit("training.status", name=self.name, status=self.status, secondary=secondary)

    def _record_transition(self, secondary: str, message: str, at: datetime) -> None:
        """Close the current secondary status and open ``secondary`` (the caller holds the lock)."""
        if self.transitions:
            self.transitions[-1]["EndTime"] = at
        self.transitions.append(_transition(secondary, message, at))
        self.secondary = secondary
        self.modified = self._env.clock()

    def _emit_status(self, **extra: Any) -> None:
        self._env.emit("training.status", name=self.name, status=self.status, secondary=self.secondary, **extra)


def _described_algorithm(algorithm: Mapping[str, Any]) -> dict[str, Any]:
    """The built-in algorithm's AlgorithmSpecification as DescribeTrainingJob shows it: its metric definitions."""
    return {
        "TrainingInputMode": "File",
        **algorithm,
        "MetricDefinitions": [dict(definition) for definition in METRIC_DEFINITIONS],
        "EnableSageMakerMetricsTimeSeries": False,
    }


class _SpotInterruptedError(Exception):
    """The injected spot interruption, raised out of the algorithm after an epoch (its checkpoint written)."""

    def __init__(self, simulated_seconds: float) -> None:
        super().__init__(f"spot instances reclaimed at {simulated_seconds:.1f} simulated s")
        self.simulated_seconds = simulated_seconds


def _described_channel(channel: Mapping[str, Any]) -> dict[str, Any]:
    """A channel as DescribeTrainingJob shows it, with SageMaker's defaults filled in."""
    filled = {**channel, "DataSource": {"S3DataSource": dict(channel["DataSource"]["S3DataSource"])}}
    filled["DataSource"]["S3DataSource"].setdefault("S3DataDistributionType", FULLY_REPLICATED)
    filled.setdefault("CompressionType", "None")
    filled.setdefault("RecordWrapperType", "None")
    return filled
