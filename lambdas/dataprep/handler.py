"""Lambda entry points for data preparation (``lambdas.dataprep.handler.profile`` / ``.shard`` / ``.finalize``).

Shard and finalize return summaries: statistics, key lists and the manifest stay in S3 (the state's 256 KiB)."""

from __future__ import annotations

from functools import cache
from typing import Any

from lambdas.dataprep.pipeline import dataset_summary, finalize_dataset, profile_year, shard_summary, shard_year
from lambdas.dataprep.s3io import S3Client
from lambdas.lambda_common.contracts import ProfileResult


@cache
def _s3() -> S3Client:
    import boto3  # noqa: PLC0415  (created on first use so importing this module needs no AWS config)

    return boto3.client("s3")


def profile(event: dict[str, Any], _context: object) -> ProfileResult:
    return profile_year(_s3(), event)


def shard(event: dict[str, Any], _context: object) -> dict[str, Any]:
    return shard_summary(shard_year(_s3(), event))


def finalize(event: dict[str, Any], _context: object) -> dict[str, Any]:
    return dataset_summary(finalize_dataset(_s3(), event))
