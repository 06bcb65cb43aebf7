"""Errors the local SageMaker answers with, shaped as the real service's, and how its training jobs fail."""

from __future__ import annotations


class SageMakerApiError(Exception):
    """An error response: ``code`` is the AWS error code (``ValidationException``, ``ResourceNotFound``, ...)."""

    def __init__(self, code: str, message: str, status_code: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status_code = status_code


class TrainingFailedError(Exception):
    """The job fails with ``reason`` as its FailureReason (``ClientError: ...`` or ``AlgorithmError: ...``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrainingStoppedError(Exception):
    """``should_stop`` asked training to end (StopTrainingJob or the simulated runtime limit)."""


def client_error(message: str) -> TrainingFailedError:
    """The algorithm refuses its input (hyperparameters, channels, data): the job's reason starts ``ClientError:``."""
    return TrainingFailedError(f"ClientError: {message}")
