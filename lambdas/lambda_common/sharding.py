"""Which train objects each training host reads, and how data preparation names them so hosts get equal work.

SageMaker's ``ShardedByS3Key`` "replicate[s] a subset of data on each ML compute instance": with n instances
each gets "approximately 1/n of the number of S3 objects" (API reference, ``S3DataSource``). AWS does not
say which objects go where, so the one thing that balances hosts on AWS is objects that are (1) at least as
many as the instances and (2) of about equal size. Local mode (``local/channels.py``) makes the rule
concrete: host ``algo-(i+1)`` gets ``keys[i::n]`` of the prefix listing in S3 key order.

The plan both rules agree on: every source group (one yearly file; later one month of data) writes its train
rows, after the seeded shuffle, round-robin into exactly ``n`` parts named
``train/<year>-<group:02d>-<part:03d>.data``. Sorted by key, each group's ``n`` parts are consecutive, so
``keys[i::n]`` is part ``i`` of every group: every host gets one object per group and the same number of
rows within one row per group. On AWS the objects are ``n`` per group and near-equal within a group, which is
the best the documented guarantee allows. ``instanceCount`` larger than the objects is impossible: there
are ``n`` times as many train objects as groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lambdas.lambda_common.vocabulary import FULLY_REPLICATED, SHARDED_BY_S3_KEY, TRAIN_CHANNEL

MAX_TRAIN_PARTS = 999  # the part number has three digits; instanceCount is at most 100


def train_part_key(dataset_prefix: str, year: int, group: int, part: int) -> str:
    if not 0 <= part <= MAX_TRAIN_PARTS or not 0 <= group <= 99:
        raise ValueError(f"group {group} / part {part} do not fit the key layout")
    return f"{dataset_prefix}{TRAIN_CHANNEL}/{year}-{group:02d}-{part:03d}.data"


def part_offset(year: int, group: int, parts: int) -> int:
    """Which part gets a group's first row: rotating it spreads the groups' leftover rows across hosts."""
    return (year * 12 + group) % parts


def deal_round_robin(rows: Sequence[int], parts: int, offset: int) -> list[Sequence[int]]:
    """``rows`` dealt to ``parts`` lists, row r to part ``(r + offset) % parts``; each keeps the shuffled order."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    return [rows[(part - offset) % parts :: parts] for part in range(parts)]


def assigned_objects(keys: Sequence[str], instance_count: int, distribution: str) -> list[list[str]]:
    """The keys each host ``algo-(i+1)`` reads: all of them (FullyReplicated) or ``keys[i::n]`` in S3 key order."""
    if instance_count < 1:
        raise ValueError("instance_count must be at least 1")
    ordered = sorted(keys, key=lambda key: key.encode())  # S3 lists keys in UTF-8 binary order
    if distribution == FULLY_REPLICATED:
        return [list(ordered) for _ in range(instance_count)]
    if distribution == SHARDED_BY_S3_KEY:
        return [ordered[host::instance_count] for host in range(instance_count)]
    raise ValueError(f"unknown S3DataDistributionType {distribution!r}")


def host_loads(objects: Sequence[Mapping[str, Any]], instance_count: int) -> dict[str, list[dict[str, Any]]]:
    """Per distribution type, per host: the objects, rows and bytes it reads. ``objects`` have key/records/bytes."""
    by_key = {obj["key"]: obj for obj in objects}
    loads: dict[str, list[dict[str, Any]]] = {}
    for distribution in (FULLY_REPLICATED, SHARDED_BY_S3_KEY):
        loads[distribution] = [
            {
                "host": f"algo-{host + 1}",
                "objects": len(keys),
                "rows": sum(by_key[key]["records"] for key in keys),
                "bytes": sum(by_key[key]["bytes"] for key in keys),
            }
            for host, keys in enumerate(assigned_objects(list(by_key), instance_count, distribution))
        ]
    return loads
