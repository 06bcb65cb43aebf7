"""What SageMaker writes to CloudWatch Logs for a run, so that local clean-up has the same leftovers to remove.

A training job writes one stream per host, ``<job>/algo-<i>-<epoch seconds>``, to the account's shared
``/aws/sagemaker/TrainingJobs`` group; an endpoint gets its own group ``/aws/sagemaker/Endpoints/<name>`` with
a stream ``<variant>/<instance id>`` per instance. SageMaker creates both and never deletes them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lambda_common.vocabulary import ENDPOINT_LOG_GROUP_PREFIX, TRAINING_LOG_GROUP


class SageMakerLogs:
    """Writes the log groups/streams through a CloudWatch Logs client (moto's, in local mode)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

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
            self._stream(TRAINING_LOG_GROUP, stream, f"[local] algo-{host}: Downloading input data", at)
        return streams

    def endpoint_started(self, endpoint: str, variants: Iterable[tuple[str, int]], at: datetime) -> list[str]:
        """The endpoint's group with one stream per instance of each variant; returns the stream names."""
        group = f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint}"
        self._group(group)
        streams = [f"{variant}/i-{secrets.token_hex(8)}0" for variant, count in variants for _ in range(count)]
        for stream in streams:
            self._stream(group, stream, "[local] Starting the model server", at)
        return streams
