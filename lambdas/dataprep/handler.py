"""Lambda entry points for data preparation (``dataprep.handler.profile`` / ``.shard`` / ``.finalize``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from dataprep.pipeline import finalize_dataset, profile_year, shard_year
from dataprep.s3io import S3Client
from lambda_common.contracts import ProfileResult


@cache
def _s3() -> S3Client:
    import boto3  # noqa: PLC0415  (created on first use so importing this module needs no AWS config)

    return boto3.client("s3")


def profile(event: dict[str, Any], _context: object) -> ProfileResult:
    return profile_year(_s3(), event)


def shard(event: dict[str, Any], _context: object) -> dict[str, Any]:
    return shard_year(_s3(), event)


def finalize(event: dict[str, Any], _context: object) -> dict[str, Any]:
    return finalize_dataset(_s3(), event)
