"""Run executions on moto's Step Functions interpreter and follow them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

HistoryListener = Callable[[dict[str, Any]], None]


def wait_for_execution(
    sfn: Any,
    execution_arn: str,
    *,
    timeout_seconds: float = 600.0,
    poll_seconds: float = 0.2,
    on_event: HistoryListener | None = None,
) -> dict[str, Any]:
    """Poll until the execution leaves RUNNING; hand each new history event to ``on_event``.

    moto runs executions on background threads, so this is how a caller learns the outcome.
    """
    deadline = time.monotonic() + timeout_seconds
    seen = 0
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if on_event is not None:
            events = history(sfn, execution_arn)
            for event in events[seen:]:
                on_event(event)
            seen = len(events)
        if description["status"] in TERMINAL:
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"execution {execution_arn} still {description['status']} after {timeout_seconds}s"
            )
        time.sleep(poll_seconds)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
