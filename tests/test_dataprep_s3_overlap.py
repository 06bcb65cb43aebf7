"""The shard step's S3 overlap (lambdas.dataprep.s3io): the GET is read ahead on its own thread, bounded, and a year's
objects can be written two at a time, still all or nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdas.dataprep import s3io
from lambdas.dataprep.errors import OutputWriteError

BUCKET = "overlap-test"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


class CountingBody:
    """A body of ``chunks`` 1 MiB reads that counts them."""

    def __init__(self, chunks: int) -> None:
        self.left, self.reads, self.closed = chunks, 0, False

    def read(self, amount: int) -> bytes:
        self.reads += 1
        if self.left == 0:
            return b""
        self.left -= 1
        return b"x" * (amount - 1) + b"\n"

    def close(self) -> None:
        self.closed = True


class OneObject:
    def __init__(self, body: CountingBody) -> None:
        self.body = body

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": self.body}


def test_the_get_is_read_ahead_but_only_so_far_and_stops_on_close() -> None:
    body = CountingBody(chunks=40)
    with s3io.open_lines(OneObject(body), BUCKET, "big.csv") as lines:
        deadline = time.monotonic() + 5
        while body.reads < s3io._PREFETCH_CHUNKS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert body.reads >= s3io._PREFETCH_CHUNKS  # read before the parser asked for a line
        time.sleep(0.2)
        assert body.reads <= s3io._PREFETCH_CHUNKS + 1  # bounded: the queue, plus the one waiting to go in
        assert len(next(iter(lines))) == 1024 * 1024
    assert body.closed
    assert not any(thread.name == "s3-read-ahead" for thread in threading.enumerate())


def test_read_ahead_gives_every_line_in_order(s3: Any) -> None:
    lines = [f"{index}\t{'y' * (index % 97)}\n".encode() for index in range(300_000)]
    s3.put_object(Bucket=BUCKET, Key="year.csv", Body=b"".join(lines))
    with s3io.open_lines(s3, BUCKET, "year.csv") as read:
        assert list(read) == lines


def test_objects_are_written_two_at_a_time(s3: Any) -> None:
    both_writing = threading.Barrier(2, timeout=10)

    def chunks(name: str) -> Iterator[bytes]:
        yield name.encode()
        both_writing.wait()  # only passes if the other object is being written at the same time
        yield b" done"

    objects = [("a", lambda: chunks("a")), ("b", lambda: chunks("b"))]
    keys, size = s3io.write_objects(s3, BUCKET, objects, writers=2)
    assert keys == ["a", "b"] and size == 12
    assert s3.get_object(Bucket=BUCKET, Key="b")["Body"].read() == b"b done"


def test_a_failed_object_removes_the_others_and_raises_the_first_failure(s3: Any) -> None:
    class FailingPut:
        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def put_object(self, **kwargs: Any) -> Any:
            if kwargs["Key"] == "c":
                raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "PutObject")
            return s3.put_object(**kwargs)

    objects = [(key, lambda key=key: iter([key.encode() * 10])) for key in ("a", "b", "c", "d")]
    with pytest.raises(OutputWriteError, match="writing s3://overlap-test/c failed: InternalError"):
        s3io.write_objects(FailingPut(), BUCKET, objects, writers=2)
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []  # a, b (and d, if it started) deleted
