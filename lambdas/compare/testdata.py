"""Streaming the recordIO test and train objects: CSV request batches for scoring, labels for the metrics.

Speed matters here: the Lambda formats every test value once, and Python code run per row or per value is
most of its CPU. Records written by the SDK's dense writer all share one byte layout (only the floats
differ), so runs of them are checked with one regular-expression match that compares every fixed byte, and
their columns are copied out with strided memoryviews; a record in any other layout is decoded in full and
re-encoded in the writer's layout, so both paths give the same runs. Features are formatted with ``%.9g``
(enough digits that the CSV parses back to the same float32), cached per piece of a row (a column, a place's
latitude and longitude, the one-hot tail) because GDELT features repeat heavily, and lines are put together
with ``struct.iter_unpack``/``map``/``bytes.join``, which run in C.
"""

from __future__ import annotations

import itertools
import math
import re
import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lambdas.lambda_common import recordio, vocabulary

MAX_REQUEST_BYTES = 5 * 1024 * 1024  # InvokeEndpoint accepts 6 MiB; keep a margin as the seed notebook did
# Default request size: smaller than the cap so the endpoints start sooner and the last request ends sooner
# (measured with bench/bench_compare.py: 1.5 MiB beat 1 and 1.25 MiB end to end; from 2 MiB on, the
# endpoint's CPU per row doubles, and 5 MiB and 512 KiB were slower too).
DEFAULT_REQUEST_BYTES = 1536 * 1024
_HEADER = struct.Struct("<II")
_READ_CHUNK = 1 << 20
_LENGTH_MASK = (1 << 29) - 1
_FORMAT_CACHE_LIMIT = 500_000
# Rows per run: big enough that per-run Python is negligible, small enough to stay in the CPU caches (measured).
_CSV_RUN_ROWS = 4096
_LABEL_RUN_ROWS = 65536
_BIG_ENDIAN = sys.byteorder == "big"
_FLOAT32, _UINT32 = struct.Struct("<f"), struct.Struct("<I")
if array("I").itemsize != 4 or array("f").itemsize != 4:
    raise ImportError("compare.testdata reads 4-byte fields as array('I')/array('f'), which are not 4 bytes here")


class DatasetError(ValueError):
    """The test or train data is not what the compare step can score."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``lambda_common.vocabulary.parse_s3_uri``, failing with DatasetError (what the compare step's callers catch).

    Stricter than SageMaker's rule: the compare step reads objects, so a bare ``s3://bucket`` is refused."""
    try:
        bucket, key = vocabulary.parse_s3_uri(uri)
    except ValueError as error:
        raise DatasetError(str(error)) from error
    if "/" not in uri.removeprefix("s3://"):
        raise DatasetError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


class _Reader:
    """A recordIO stream read in 1 MiB chunks (one ``read`` per record is slow); ``data[pos:]`` is unread."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.data = b""
        self.pos = 0

    def fill(self, needed: int) -> bool:
        """Make ``data[pos:]`` hold at least ``needed`` bytes; False at the end of the stream."""
        available = len(self.data) - self.pos
        if available >= needed:
            return True
        with memoryview(self.data) as unread:
            parts: list[bytes | memoryview] = [unread[self.pos :]]  # copied once, by the join
            while available < needed:
                chunk = self.stream.read(max(_READ_CHUNK, needed - available))
                if not chunk:
                    break
                parts.append(chunk)
                available += len(chunk)
            self.data, self.pos = b"".join(parts), 0
            parts.clear()
        return available >= needed


def _next_payload(reader: _Reader, source: str, record: int) -> bytes | None:
    """The next record's payload, or None at a clean end of the stream."""
    if not reader.fill(_HEADER.size):
        if len(reader.data) - reader.pos:
            raise DatasetError(f"{source}: truncated recordIO header after record {record}")
        return None
    magic, length = _HEADER.unpack_from(reader.data, reader.pos)
    if magic != recordio.MAGIC:
        raise DatasetError(f"{source}: record {record} has bad recordIO magic 0x{magic:08X}")
    length &= _LENGTH_MASK
    padded = _HEADER.size + length + (-length) % 4
    if not reader.fill(padded):
        raise DatasetError(f"{source}: record {record} is truncated")
    start = reader.pos + _HEADER.size
    reader.pos += padded
    return reader.data[start : start + length]


def iter_payloads(stream: BinaryIO, source: str) -> Iterator[bytes]:
    """Each record's payload (the serialized Record message) from a recordIO stream."""
    reader = _Reader(stream)
    record = 0
    while (payload := _next_payload(reader, source, record)) is not None:
        yield payload
        record += 1


@dataclass(frozen=True)
class _DenseLayout:
    """A framed dense record as the SDK writer lays it out: [head][features][middle][label][padding]."""

    feature_dim: int
    size: int  # framed size, padding included: a multiple of 4
    feature_offset: int
    label_offset: int
    run: re.Pattern[bytes]  # matches consecutive records in this layout; the padding bytes are not checked
    # (offset in the record, its 4 bytes): 4-byte words that cover every byte the pattern compares
    fixed_words: tuple[tuple[int, bytes], ...]

    @classmethod
    def for_features(cls, feature_dim: int) -> _DenseLayout:
        head, middle, padding = recordio.dense_record_layout(feature_dim)
        label_offset = len(head) + 4 * feature_dim + len(middle)
        record = re.escape(head) + b".{%d}" % (4 * feature_dim) + re.escape(middle) + b".{%d}" % (4 + len(padding))
        words: list[tuple[int, bytes]] = []
        for start, fixed in ((0, head), (len(head) + 4 * feature_dim, middle)):
            # the last word may overlap the one before it, so that no byte is left out and none is a float's
            offsets = sorted({*range(0, len(fixed) - 3, 4), len(fixed) - 4})
            words += [(start + offset, fixed[offset : offset + 4]) for offset in offsets]
        return cls(
            feature_dim=feature_dim,
            size=label_offset + 4 + len(padding),
            feature_offset=len(head),
            label_offset=label_offset,
            run=re.compile(b"(?:" + record + b")*", re.DOTALL),
            fixed_words=tuple(words),
        )

    def records_in_layout(self, data: bytes, start: int, rows: int) -> int:
        """How many of the ``rows`` whole records from ``data[start:]`` are in this layout, counted from the first.

        Each fixed word is compared for every record at once (a strided view, copied out in C); only a run with
        a record outside the layout is matched with the pattern, which stops at that record."""
        span, stride = (rows - 1) * self.size + 4, self.size // 4
        with memoryview(data) as view:
            for offset, word in self.fixed_words:
                first = start + offset
                if view[first : first + span].cast("I")[::stride].tobytes() != word * rows:
                    matched = self.run.match(data, start, start + rows * self.size)
                    return (matched.end() - start) // self.size if matched else 0
        return rows


@dataclass(frozen=True)
class DenseRun:
    """``rows`` consecutive records in ``layout``, the first at ``data[start:]``."""

    data: bytes
    start: int
    rows: int
    layout: _DenseLayout

    def view(self) -> memoryview:
        return memoryview(self.data)[self.start : self.start + self.rows * self.layout.size]

    def _column(self, offset: int, typecode: str) -> array:
        """The 4-byte field at ``offset`` of every record: one strided view, copied out in C."""
        size = self.layout.size
        first = self.start + offset
        strided = memoryview(self.data)[first : first + (self.rows - 1) * size + 4].cast("I")[:: size // 4]
        values = array(typecode, strided.tobytes())
        if _BIG_ENDIAN:
            values.byteswap()  # recordIO is little-endian; the views above read native order
        return values

    def feature_bits(self, column: int) -> array:
        """array('I'): the float32 bit pattern of feature ``column`` of every record."""
        return self._column(self.layout.feature_offset + 4 * column, "I")

    def labels(self) -> array:
        """array('f'): the label of every record."""
        return self._column(self.layout.label_offset, "f")

    def feature_rows(self) -> Iterator[bytes]:
        """Each record's feature bytes (little-endian float32)."""
        layout = self.layout
        features = 4 * layout.feature_dim
        record = struct.Struct(f"<{layout.feature_offset}x{features}s{layout.size - layout.feature_offset - features}x")
        return itertools.chain.from_iterable(record.iter_unpack(self.view()))


def iter_dense_runs(stream: BinaryIO, source: str, max_rows: int) -> Iterator[DenseRun]:  # noqa: C901 -- the hot loop: fast path and fallback kept inline for speed
    """The records of a recordIO stream as runs of at most ``max_rows``; each record has one label, all one width.

    Records in the SDK writer's layout are found a run at a time by one regular-expression match that compares
    every fixed byte (lengths, field tags, the "values" keys); any other record is decoded in full and re-encoded
    in that layout (the values are float32 either way, so nothing changes), as a run of one.
    """
    reader = _Reader(stream)
    layout: _DenseLayout | None = None
    record = 0
    while True:
        if layout is not None:
            reader.fill(max_rows * layout.size)
            available = min(max_rows, (len(reader.data) - reader.pos) // layout.size)
            if available:
                rows = layout.records_in_layout(reader.data, reader.pos, available)
                if rows:
                    yield DenseRun(reader.data, reader.pos, rows, layout)
                    reader.pos += rows * layout.size
                    record += rows
                    continue
        payload = _next_payload(reader, source, record)
        if payload is None:
            return
        try:
            features, label = recordio.decode_record(payload)
        except recordio.RecordIOError as error:
            raise DatasetError(f"{source}: record {record}: {error}") from error
        if len(label) != 1:
            raise DatasetError(f"{source}: record {record} has {len(label)} label values, expected 1")
        if not features:
            raise DatasetError(f"{source}: record {record} has no features")
        if layout is None:
            layout = _DenseLayout.for_features(len(features))
        elif len(features) != layout.feature_dim:
            raise DatasetError(
                f"{source}: record {record} has {len(features)} features, earlier records have {layout.feature_dim}"
            )
        yield DenseRun(recordio.encode_record(features, label[0]), 0, 1, layout)
        record += 1


class _TextCache(dict[int | bytes, bytes]):
    """A piece of a row → its CSV text (ASCII bytes) with the separator after it, formatted ``%.9g`` once per
    distinct piece. Three kinds of key, which never collide:

    - an int: one leading column's float32 bit pattern → "<value>,";
    - bytes of 4k bytes: k adjacent leading columns (a place's latitude and longitude) → "<v1>,...,<vk>,";
    - bytes of 4k + 1 bytes: the row's last k columns and the fixed byte after them (so its length is never a
      multiple of 4) → "<v1>,...,<vk>\\n".
    """

    def __missing__(self, key: int | bytes) -> bytes:
        if len(self) >= _FORMAT_CACHE_LIMIT:
            self.clear()
        if isinstance(key, int):
            values: tuple[float, ...] = _FLOAT32.unpack(_UINT32.pack(key))
            end = ","
        else:
            values = struct.unpack(f"<{len(key) // 4}f", key[: len(key) // 4 * 4])
            end = "\n" if len(key) % 4 else ","
        text = self[key] = (",".join(["%.9g" % value for value in values]) + end).encode("ascii")  # noqa: UP031
        return text


@dataclass(frozen=True)
class CsvBatch:
    index: int
    body: bytes  # text/csv, features only
    labels: array  # array('d'), one label per row of body

    @property
    def rows(self) -> int:
        return len(self.labels)


class _RowFormatter:
    """Runs of records → their CSV text, ``%.9g`` per value, each line ended by "\\n".

    A row is cut into pieces, each looked up whole in one ``_TextCache``: one struct unpacks the pieces of
    every record of a run, and ``map``/``bytes.join`` lay their texts out in row order, in C. The pieces are
    chosen from the first rows: the tail (the columns from ``split`` on) is one piece when it takes few
    distinct values (GDELT: 20 one-hot event-code columns, so about 20 distinct tails), else the last column
    alone; before it, adjacent columns that repeat together (one takes no more distinct values with the other
    than alone: a place's latitude and longitude) are one piece, and any other column is a piece of its own.
    """

    SAMPLE_ROWS = 2048

    def __init__(self, width: int) -> None:
        self.width = width
        self.split = width  # columns before the cached tail
        self.pieces = [(column, column + 1) for column in range(width)]  # [start, end) columns
        self.texts = _TextCache()
        self._records: dict[tuple[int, int], struct.Struct] = {}  # (feature offset, record size) → its pieces

    def choose_split(self, sample: list[bytes]) -> None:
        limit = max(32, len(sample) // 20)
        self.split = next(
            (split for split in range(self.width) if len({row[4 * split :] for row in sample}) <= limit), self.width
        )
        tail = min(self.split, self.width - 1)
        self.pieces = [*self._leading_pieces(sample, tail), (tail, self.width)]
        self._records.clear()

    @staticmethod
    def _leading_pieces(sample: list[bytes], end: int) -> list[tuple[int, int]]:
        def distinct(start: int, stop: int) -> int:
            return len({row[4 * start : 4 * stop] for row in sample})

        pieces: list[tuple[int, int]] = []
        start = 0
        while start < end:
            stop = start + 1
            while stop < end:
                together = distinct(start, stop + 1)
                if together > len(sample) // 2 or together > max(distinct(start, stop), distinct(stop, stop + 1)):
                    break
                stop += 1
            pieces.append((start, stop))
            start = stop
        return pieces

    def _record(self, layout: _DenseLayout) -> struct.Struct:
        key = (layout.feature_offset, layout.size)
        record = self._records.get(key)
        if record is None:
            *leading, (tail, _) = self.pieces
            codes = "".join("I" if stop - start == 1 else f"{4 * (stop - start)}s" for start, stop in leading)
            after = layout.size - layout.feature_offset - 4 * self.width - 1  # the byte after the features is read
            record = self._records[key] = struct.Struct(
                f"<{layout.feature_offset}x{codes}{4 * (self.width - tail) + 1}s{after}x"
            )
        return record

    def text(self, run: DenseRun) -> bytes:
        """The run's rows as CSV, each ending in "\\n"."""
        pieces = self._record(run.layout).iter_unpack(run.view())
        return b"".join(map(self.texts.__getitem__, itertools.chain.from_iterable(pieces)))


def iter_csv_batches(
    stream: BinaryIO, source: str, max_request_bytes: int = DEFAULT_REQUEST_BYTES
) -> Iterator[CsvBatch]:
    """CSV request bodies of at most ``max_request_bytes`` each, with the labels of their rows, in order."""
    if not 0 < max_request_bytes <= MAX_REQUEST_BYTES:
        raise ValueError(f"max_request_bytes must be in 1..{MAX_REQUEST_BYTES}, got {max_request_bytes}")
    runs = iter_dense_runs(stream, source, _CSV_RUN_ROWS)
    sampled: list[DenseRun] = []
    for run in runs:
        sampled.append(run)
        if sum(part.rows for part in sampled) >= _RowFormatter.SAMPLE_ROWS:
            break
    if not sampled:
        return
    formatter = _RowFormatter(sampled[0].layout.feature_dim)
    sample = itertools.chain.from_iterable(run.feature_rows() for run in sampled)
    formatter.choose_split(list(itertools.islice(sample, _RowFormatter.SAMPLE_ROWS)))

    pending = bytearray()  # formatted rows not sent yet, each ending in "\n"
    labels = array("d")  # theirs: one per line of pending
    index = 0
    first_record = 0  # of pending
    for run in itertools.chain(sampled, runs):
        pending += formatter.text(run)
        labels += array("d", run.labels())
        # A request is whole rows joined by "\n": cut at the last line end within the limit.
        while len(pending) > max_request_bytes:
            cut = pending.rfind(b"\n", 0, max_request_bytes + 1)
            if cut < 0:
                raise DatasetError(
                    f"{source}: record {first_record} alone is larger than {max_request_bytes} bytes as CSV"
                )
            rows = len(labels) - pending.count(b"\n", cut + 1)  # counts the short rest, not the request
            with memoryview(pending) as view:
                body = view[:cut].tobytes()
            yield CsvBatch(index, body, labels[:rows])
            del pending[: cut + 1]
            labels = labels[rows:]
            index += 1
            first_record += rows
    if pending:
        yield CsvBatch(index, bytes(pending[:-1]), labels)


def sum_labels(stream: BinaryIO, source: str) -> tuple[float, int]:
    """(sum, count) of the labels of a recordIO stream; the sum is exactly rounded (one ``math.fsum``)."""
    rows = 0

    def labels() -> Iterator[array]:
        nonlocal rows
        for run in iter_dense_runs(stream, source, _LABEL_RUN_ROWS):
            rows += run.rows
            yield run.labels()

    total = math.fsum(itertools.chain.from_iterable(labels()))
    return total, rows
