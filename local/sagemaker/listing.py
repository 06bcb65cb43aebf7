"""How SageMaker's List* operations filter, sort and page (default 10 per page, newest first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.utils import parse_to_aware_datetime

from local.sagemaker.validation import validation_error

DEFAULT_MAX_RESULTS = 10
# Request member → (summary member it bounds, whether it keeps items after the bound).
TIME_BOUNDS = {
    "CreationTimeAfter": ("CreationTime", True),
    "CreationTimeBefore": ("CreationTime", False),
    "LastModifiedTimeAfter": ("LastModifiedTime", True),
    "LastModifiedTimeBefore": ("LastModifiedTime", False),
}


def page_start(request: Mapping[str, Any]) -> int:
    """Where the page asked for by ``NextToken`` (a local token: the index of its first item) starts."""
    token = request.get("NextToken")
    if token is None:
        return 0
    if not token.isdigit():
        raise validation_error(f"Invalid pagination token {token!r}")
    return int(token)


def page(
    items: list[dict[str, Any]], request: Mapping[str, Any], default_size: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The page of ``items`` the request asks for, and ``{"NextToken": ...}`` unless it is the last."""
    start = page_start(request)
    size = request.get("MaxResults", default_size)
    return items[start : start + size], ({"NextToken": str(start + size)} if start + size < len(items) else {})


def list_page(
    items: list[dict[str, Any]], request: Mapping[str, Any], name_key: str, status_key: str | None, *, member: str
) -> dict[str, Any]:
    """A List* answer: ``items`` (summaries) filtered, sorted and paged, under ``member`` (``Endpoints``...)."""
    if "NameContains" in request:
        needle = request["NameContains"].lower()
        items = [i for i in items if needle in i[name_key].lower()]
    if status_key and "StatusEquals" in request:
        items = [i for i in items if i[status_key] == request["StatusEquals"]]
    for bound_member, (item_key, keep_after) in TIME_BOUNDS.items():
        if bound_member in request:
            bound = parse_to_aware_datetime(request[bound_member])
            items = [i for i in items if (i[item_key] > bound) == keep_after and i[item_key] != bound]
    sort_by = request.get("SortBy", "CreationTime")
    sort_key = {"Name": name_key, "CreationTime": "CreationTime", "Status": status_key or name_key}[sort_by]
    items.sort(key=lambda i: (i[sort_key], i[name_key]), reverse=request.get("SortOrder", "Descending") == "Descending")
    shown, token = page(items, request, DEFAULT_MAX_RESULTS)
    return {member: shown, **token}
