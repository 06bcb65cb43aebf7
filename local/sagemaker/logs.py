"""What SageMaker writes to CloudWatch Logs for a run, so that local clean-up has the same leftovers to remove.

A training job writes one stream per host, ``<job>/algo-<i>-<epoch seconds>``, to the account's shared
``/aws/sagemaker/TrainingJobs`` group, in the algorithm's own line format (``local.sagemaker.algorithm_metrics``),
and publishes the values its MetricDefinitions find there to CloudWatch (namespace ``/aws/sagemaker/TrainingJobs``,
dimension ``TrainingJobName``, where the SageMaker Python SDK's ``TrainingJobAnalytics`` reads them). An endpoint
gets its own group ``/aws/sagemaker/Endpoints/<name>`` with a stream ``<variant>/<instance id>`` per instance.
SageMaker creates both and never deletes them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lambdas.lambda_common.vocabulary import ENDPOINT_LOG_GROUP_PREFIX, TRAINING_LOG_GROUP
from local.sagemaker.algorithm_metrics import METRICS_NAMESPACE, log_prefix


class SageMakerLogs:
    """Writes the log groups/streams through a CloudWatch Logs client (moto's, in local mode)."""

    def __init__(self, client: Callable[[], Any], cloudwatch: Callable[[], Any] | None = None) -> None:
        self._client = client
        self._cloudwatch = cloudwatch

    def _group(self, name: str) -> None:
        try:
            self._client().create_log_group(logGroupName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise

    def _stream(self, group: str, stream: str, message: str, at: datetime) -> None:
        logs = self._client()
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": int(at.timestamp() * 1000), "message": message}])

    def training_started(self, job: str, hosts: int, at: datetime) -> list[str]:
        """One stream per host once the job's containers start; returns the stream names."""
        self._group(TRAINING_LOG_GROUP)
        streams = [f"{job}/algo-{host}-{int(at.timestamp())}" for host in range(1, hosts + 1)]
        for host, stream in enumerate(streams, start=1):
            self._stream(TRAINING_LOG_GROUP, stream, f"{log_prefix(at)}Reading default configuration from "
                         f"/opt/amazon/lib/python3.8/site-packages/algorithm/resources/default-input.json "
                         f"(host algo-{host})", at)
        return streams

    def training_lines(self, stream: str, lines: Sequence[tuple[datetime, str]]) -> None:
        """Append the algorithm's lines (time, text) to a host's stream, each with its log prefix."""
        if not lines:
            return
        events = [{"timestamp": int(at.timestamp() * 1000), "message": log_prefix(at) + text} for at, text in lines]
        self._client().put_log_events(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream, logEvents=events)

    def training_metrics(self, job: str, points: Sequence[tuple[datetime, str, float]]) -> None:
        """Publish (time, metric name, value) as SageMaker does for the metrics a job's definitions match."""
        if self._cloudwatch is None or not points:
            return
        data = [
            {"MetricName": name, "Timestamp": at, "Value": value,
             "Dimensions": [{"Name": "TrainingJobName", "Value": job}]}
            for at, name, value in points
        ]
        for first in range(0, len(data), 1000):  # PutMetricData's MetricData limit
            self._cloudwatch().put_metric_data(Namespace=METRICS_NAMESPACE, MetricData=data[first : first + 1000])

    def endpoint_started(self, endpoint: str, variants: Iterable[tuple[str, int]], at: datetime) -> list[str]:
        """The endpoint's group with one stream per instance of each variant; returns the stream names."""
        group = f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint}"
        self._group(group)
        streams = [f"{variant}/i-{secrets.token_hex(8)}0" for variant, count in variants for _ in range(count)]
        for stream in streams:
            self._stream(group, stream, "[local] Starting the model server", at)
        return streams
