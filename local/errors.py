"""Errors the local SageMaker answers with, shaped as the real service's."""

from __future__ import annotations


class SageMakerApiError(Exception):
    """An error response: ``code`` is the AWS error code (``ValidationException``, ``ResourceNotFound``, ...)."""

    def __init__(self, code: str, message: str, status_code: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status_code = status_code
