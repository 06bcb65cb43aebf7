"""Streaming S3 reads (line by line, never the whole object in memory) and all-or-nothing S3 writes.

Written here instead of using s3transfer's managed upload: we need the abort-on-any-failure guarantee and
a single PutObject for small outputs, and the read side must hand lines to the parser as the GET streams
(read ahead on a thread of its own, so the network and the parse overlap).
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.dataprep.errors import OutputWriteError, SourceDataError
from lambdas.lambda_common.aws_errors import client_error_text, error_code

S3Client = Any  # boto3's S3 client (no type stubs in the Lambda runtime)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3: every part except the last must be at least 5 MiB
# S3's minimum: the writer holds a part and its copy for the upload, so smaller parts lower the shard step's
# peak RSS (bench/bench_shard.py); 10,000 parts x 5 MiB = 50 GB, far above any GDELT year.
DEFAULT_PART_SIZE = MIN_PART_SIZE
MAX_PARTS = 10_000
_READ_BUFFER = 1024 * 1024
_PREFETCH_CHUNKS = 4  # read-ahead: at most 4 x 1 MiB of the object wait to be parsed
_MISSING_OBJECT_CODES = {"NoSuchKey", "404", "NotFound"}


class _PrefetchingBodyReader(io.RawIOBase):
    """Adapts botocore's StreamingBody (``read(n)``) to the raw-IO interface so io.BufferedReader can split
    lines in C while the GET streams, and reads the body on a thread of its own: the socket reads (and
    botocore's checksum of what arrives) overlap the parsing instead of alternating with it. At most
    ``_PREFETCH_CHUNKS`` chunks wait, so memory stays bounded however large the object is."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_PREFETCH_CHUNKS)
        self._stopping = threading.Event()
        self._pending = memoryview(b"")
        self._finished = False
        self._thread = threading.Thread(target=self._fill, name="s3-read-ahead", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            while not self._stopping.is_set():
                chunk = self._body.read(_READ_BUFFER)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as error:  # handed to the reading thread, which raises it
            self._put(error)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stopping.is_set():
            with suppress(queue.Full):
                self._chunks.put(item, timeout=0.1)
                return

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if self._finished:
                return 0
            item = self._chunks.get()
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            if not item:
                self._finished = True
                return 0
            self._pending = memoryview(item)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._stopping.set()
            self._thread.join()
            self._body.close()
        super().close()


class _BufferReader(io.RawIOBase):
    """A seekable file over a buffer, so botocore streams a part from it (checksum, then send) instead of the
    writer copying the part into ``bytes`` first: the copy was a whole part (5 MiB) on the shard step's peak."""

    def __init__(self, data: bytearray) -> None:
        self._view = memoryview(data)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = max(0, min(len(buffer), len(self._view) - self._position))
        buffer[:size] = self._view[self._position : self._position + size]
        self._position += size
        return size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._view.release()
        super().close()


def describe_client_error(error: ClientError) -> str:
    return client_error_text(error).rstrip(": ")


def is_missing_object(error: ClientError) -> bool:
    """GetObject's NoSuchKey, or a HEAD's bare 404."""
    return error_code(error) in _MISSING_OBJECT_CODES


@contextmanager
def open_lines(s3: S3Client, bucket: str, key: str) -> Iterator[Iterable[bytes]]:
    """A buffered binary reader over one streaming GET; iterate it for lines (line endings kept)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing_object(error):
            raise SourceDataError(f"source object s3://{bucket}/{key} does not exist") from error
        raise SourceDataError(f"cannot read s3://{bucket}/{key}: {describe_client_error(error)}") from error
    reader = io.BufferedReader(_PrefetchingBodyReader(response["Body"]), buffer_size=_READ_BUFFER)
    try:
        yield reader
    except (BotoCoreError, OSError) as error:
        raise SourceDataError(f"reading s3://{bucket}/{key} failed: {error}") from error
    finally:
        reader.close()


class S3ObjectWriter:
    """Writes one S3 object so that either all of it becomes visible or nothing does.

    Small objects (below ``part_size``) go up in one PutObject on ``close``. Larger ones use a multipart upload
    with ``part_size`` parts (the last may be smaller); any failure, in our code or S3's, aborts the upload,
    so no partial object or orphaned parts remain. Use as a context manager: leaving it with an exception
    aborts, leaving it normally completes.
    """

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        key: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        content_type: str = "application/octet-stream",
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part size)")
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._part_size = part_size
        self._content_type = content_type
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0
        self._closed = False

    def __enter__(self) -> S3ObjectWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError(f"s3://{self.bucket}/{self.key} is already closed")
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self._part_size:
            self._run(self._upload_part, self._part_size)

    def close(self) -> None:
        """Makes the object visible: PutObject if it fits one part, else the last part + complete."""
        if self._closed:
            return
        if self._upload_id is None:
            self._run(self._put_whole)
        else:
            if self._buffer:
                self._run(self._upload_part, len(self._buffer))
            self._run(self._complete)
        self._closed = True

    def abort(self) -> None:
        """Discards everything written; safe to call more than once."""
        self._closed = True
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)

    def _run(self, step: Any, *args: Any) -> None:
        try:
            step(*args)
        except ClientError as error:
            self._abort_quietly()
            raise OutputWriteError(
                f"writing s3://{self.bucket}/{self.key} failed: {describe_client_error(error)}"
            ) from error
        except BaseException:
            self._abort_quietly()
            raise

    def _abort_quietly(self) -> None:
        # the original error matters more; an S3 lifecycle rule can still clean up orphaned parts
        with suppress(ClientError, BotoCoreError):
            self.abort()

    def _put_whole(self) -> None:
        with _BufferReader(self._buffer) as body:
            self._s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, ContentType=self._content_type)
        self._buffer = bytearray()

    def _take(self, size: int) -> bytearray:
        """The buffer's first ``size`` bytes, moved out without copying them (only the rest, under one write, is)."""
        part = self._buffer
        self._buffer = part[size:]
        del part[size:]
        return part

    def _upload_part(self, size: int) -> None:
        if self._upload_id is None:
            created = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self._content_type, ChecksumAlgorithm="CRC32"
            )
            self._upload_id = created["UploadId"]
        part_number = len(self._parts) + 1
        if part_number > MAX_PARTS:
            raise ValueError(f"s3://{self.bucket}/{self.key} needs more than {MAX_PARTS} parts")
        with _BufferReader(self._take(size)) as body:
            response = self._s3.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=part_number,
                Body=body,
                ChecksumAlgorithm="CRC32",
            )
        part: dict[str, Any] = {"PartNumber": part_number, "ETag": response["ETag"]}
        if response.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        self._parts.append(part)

    def _complete(self) -> None:
        self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None


class _StoppedError(Exception):
    """Another object of the same write failed: this one stops and aborts."""


def write_objects(
    s3: S3Client,
    bucket: str,
    objects: Sequence[tuple[str, Callable[[], Iterable[bytes]]]],
    *,
    part_size: int = DEFAULT_PART_SIZE,
    content_type: str = "application/octet-stream",
    writers: int = 1,
) -> tuple[list[str], int]:
    """Writes each ``(key, chunks)`` object, ``writers`` at a time, all or nothing: (keys in order, bytes).

    With two writers, one object is encoded while another waits on S3 (the chunks are produced on the writing
    thread). If any write fails, the others stop, every object already written is deleted, and the first
    failure (in the order of ``objects``) is raised. One writer by default: measured through loopback S3
    (bench/bench_shard.py), two took the year from 2.0 to 1.9 s but added 12 MiB to the peak RSS (79 to 91 MiB),
    over the shard step's memory target (0.1x the notebook's)."""
    stop = threading.Event()

    def write(key: str, chunks: Callable[[], Iterable[bytes]]) -> int:
        with S3ObjectWriter(s3, bucket, key, part_size=part_size, content_type=content_type) as out:
            for chunk in chunks():
                if stop.is_set():
                    raise _StoppedError
                out.write(chunk)
        return out.bytes_written

    with ThreadPoolExecutor(max_workers=max(1, writers), thread_name_prefix="s3-write") as pool:
        futures = [pool.submit(write, key, chunks) for key, chunks in objects]
        for future in futures:
            if future.exception() is not None:
                stop.set()
                for pending in futures:
                    pending.cancel()
                break
        # Leaving the pool waits for the writes already running.
    written = [key for (key, _), future in zip(objects, futures, strict=True) if _succeeded(future)]
    failures = [future.exception() for future in futures if not future.cancelled() and future.exception()]
    first = next((error for error in failures if not isinstance(error, _StoppedError)), None)
    if first is not None:
        delete_quietly(s3, bucket, written)
        raise first
    return written, sum(future.result() for future in futures)


def delete_quietly(s3: Any, bucket: str, keys: Iterable[str]) -> None:
    """Delete what a failed write left; the original failure is what the caller needs to see."""
    for key in keys:
        with suppress(ClientError, BotoCoreError):
            s3.delete_object(Bucket=bucket, Key=key)


def _succeeded(future: Future[int]) -> bool:
    return not future.cancelled() and future.exception() is None
