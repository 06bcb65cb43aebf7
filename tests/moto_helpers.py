"""moto S3 with fake credentials, for tests that need a few buckets and nothing else of local mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"


@contextmanager
def mocked_s3(monkeypatch: pytest.MonkeyPatch, *buckets: str) -> Iterator[Any]:
    """An S3 client on moto with `buckets` created; credentials are fake so nothing can reach AWS."""
    for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield client
