"""How the Lambdas spell an AWS error in their own messages: ``Code: Message``, as the service sent them."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def client_error_text(error: ClientError) -> str:
    """``Code: Message`` of a service's error answer (``Error`` when it names no code)."""
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Error')}: {details.get('Message', '')}"


def error_text(error: Exception) -> str:
    """``Code: Message`` of a ClientError, ``Type: message`` of anything else (a connection error, ...)."""
    if isinstance(error, ClientError):
        return client_error_text(error)
    return f"{type(error).__name__}: {error}"
