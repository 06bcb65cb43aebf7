"""Injected failures for tests (``FaultPlan``); keys are ``fnmatch`` patterns of names or operations.

``training_failures``: job name → FailureReason the job fails with during ``Training``;
``endpoint_failures``: endpoint name → FailureReason the endpoint fails with while ``Creating``;
``throttle``: operation → how many calls answer ``ThrottlingException: Rate exceeded`` before the next succeeds;
``spot_capacity_unavailable``: job name patterns whose managed spot request finds no capacity: the job waits in
``Starting`` ("Insufficient capacity ...") until ``MaxWaitTimeInSeconds`` runs out, then ends ``Stopped`` with
SecondaryStatus ``MaxWaitTimeExceeded`` (an on-demand job is not affected);
``spot_interruptions``: job name → the epoch after which EC2 reclaims a managed spot job's instances, once:
the job goes ``Interrupted`` → ``Starting`` and trains again, from its last checkpoint when it has a
``CheckpointConfig`` (``local.checkpoints``), else from the beginning (an on-demand job is not affected);
``slow_training`` / ``slow_endpoints``: name → *real* seconds a job stays ``Starting`` / an endpoint stays
``Creating`` before its lifecycle goes on (independent of ``time_scale``, so a test can act while it is in
progress; ``StopTrainingJob`` and ``shutdown`` cut a job's wait short);
``transform_failures``: transform job name → FailureReason the job fails with once its instances are up;
``slow_transforms``: transform job name → *real* seconds a job stays ``InProgress`` before it goes on
(``StopTransformJob`` and ``shutdown`` cut it short; a test's state timeout can run out meanwhile);
``invocation_failures``: endpoint name → message its container answers every invocation with (HTTP 500, which
the runtime reports as ``ModelError``); applied by ``local.hosting.EndpointRegistry``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

_T = TypeVar("_T")


@dataclass
class FaultPlan:
    """Injected failures; see the module docstring."""

    training_failures: Mapping[str, str] = field(default_factory=dict)
    endpoint_failures: Mapping[str, str] = field(default_factory=dict)
    throttle: dict[str, int] = field(default_factory=dict)
    spot_capacity_unavailable: tuple[str, ...] = ()
    slow_training: Mapping[str, float] = field(default_factory=dict)
    slow_endpoints: Mapping[str, float] = field(default_factory=dict)
    invocation_failures: Mapping[str, str] = field(default_factory=dict)
    transform_failures: Mapping[str, str] = field(default_factory=dict)
    slow_transforms: Mapping[str, float] = field(default_factory=dict)
    spot_interruptions: Mapping[str, int] = field(default_factory=dict)

    def spot_interruption(self, job_name: str) -> int | None:
        return _first_match(self.spot_interruptions, job_name)

    def no_spot_capacity(self, job_name: str) -> bool:
        return any(fnmatch.fnmatchcase(job_name, pattern) for pattern in self.spot_capacity_unavailable)

    def training_delay(self, job_name: str) -> float:
        return _first_match(self.slow_training, job_name) or 0.0

    def endpoint_delay(self, endpoint_name: str) -> float:
        return _first_match(self.slow_endpoints, endpoint_name) or 0.0

    def transform_delay(self, job_name: str) -> float:
        return _first_match(self.slow_transforms, job_name) or 0.0

    def transform_failure(self, job_name: str) -> str | None:
        return _first_match(self.transform_failures, job_name)

    def training_failure(self, job_name: str) -> str | None:
        return _first_match(self.training_failures, job_name)

    def endpoint_failure(self, endpoint_name: str) -> str | None:
        return _first_match(self.endpoint_failures, endpoint_name)

    def take_throttle(self, operation: str) -> bool:
        for pattern, remaining in self.throttle.items():
            if remaining > 0 and fnmatch.fnmatchcase(operation, pattern):
                self.throttle[pattern] = remaining - 1
                return True
        return False


def _first_match(patterns: Mapping[str, _T], name: str) -> _T | None:
    return next((reason for pattern, reason in patterns.items() if fnmatch.fnmatchcase(name, pattern)), None)
