"""Streaming the recordIO test and train objects: CSV request batches for scoring, labels for the metrics.

Speed matters here (the Lambda formats every test value once): records written by the SDK's dense writer
all share one byte layout, so after the first record is decoded in full, the rest are checked against that
layout and their floats read with one ``struct`` call; any other record goes through the full decoder.
Features are formatted with ``%.9g`` (enough digits that the CSV parses back to the same float32), cached
by their bit pattern because GDELT features repeat heavily (one-hot codes, article counts, place centroids).
"""

from __future__ import annotations

import itertools
import math
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lambda_common import recordio

MAX_REQUEST_BYTES = 5 * 1024 * 1024  # InvokeEndpoint accepts 6 MiB; keep a margin as the seed notebook did
# Default request size: smaller than the cap so the endpoints start sooner and the last request ends sooner
# (measured with bench/bench_compare.py: 1 MiB beat 5 MiB and 512 KiB end to end).
DEFAULT_REQUEST_BYTES = 1024 * 1024
_HEADER = struct.Struct("<II")
_READ_CHUNK = 1 << 20
_LENGTH_MASK = (1 << 29) - 1
# label map entry of a dense record: key "values" → Value{float32_tensor{values=[label]}}, then the 4 label bytes
_LABEL_PREFIX = b"\x12\x12\x0a\x06values\x12\x08\x12\x06\x0a\x04"
_FORMAT_CACHE_LIMIT = 500_000


class DatasetError(ValueError):
    """The test or train data is not what the compare step can score."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise DatasetError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    if not bucket:
        raise DatasetError(f"{uri!r} has no bucket")
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
        parts = [self.data[self.pos :]]
        while available < needed:
            chunk = self.stream.read(max(_READ_CHUNK, needed - available))
            if not chunk:
                break
            parts.append(chunk)
            available += len(chunk)
        self.data, self.pos = b"".join(parts), 0
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
    """The bytes of a framed dense record as the SDK writer lays it out: [fixed head][floats][fixed tail][label]."""

    feature_dim: int
    head: bytes  # recordIO header + Record bytes up to the feature floats
    size: int  # framed size, padding included
    records: struct.Struct  # (head, feature bytes, label prefix, label)

    @classmethod
    def for_features(cls, feature_dim: int) -> _DenseLayout:
        framed = recordio.encode_record([0.0] * feature_dim, 0.0)
        payload_length = _HEADER.unpack_from(framed)[1]
        head = framed[: _HEADER.size + payload_length - 4 * feature_dim - len(_LABEL_PREFIX) - 4]
        padding = len(framed) - _HEADER.size - payload_length
        layout = f"<{len(head)}s{4 * feature_dim}s{len(_LABEL_PREFIX)}sf{padding}x"
        return cls(feature_dim, head, len(framed), struct.Struct(layout))


def iter_dense_records(stream: BinaryIO, source: str) -> Iterator[tuple[bytes, float]]:
    """(little-endian float32 feature bytes, label) per record; every record must have one label, the same width.

    Once the first record shows the width, whole runs of records in the writer's layout are unpacked with one
    ``struct.iter_unpack`` per chunk; every fixed byte of each record is still compared with the layout.
    """
    reader = _Reader(stream)
    layout: _DenseLayout | None = None
    record = 0
    while True:
        if layout is not None and reader.fill(layout.size):
            end = reader.pos + (len(reader.data) - reader.pos) // layout.size * layout.size
            head, tail = layout.head, _LABEL_PREFIX
            for fixed_head, features, fixed_tail, label in layout.records.iter_unpack(
                memoryview(reader.data)[reader.pos : end]
            ):
                if fixed_head != head or fixed_tail != tail:
                    break  # not the writer's layout: decode this record in full below
                yield features, label
                reader.pos += layout.size
                record += 1
            else:
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
        yield struct.pack(f"<{len(features)}f", *features), label[0]
        record += 1


class _FormatCache(dict[int, str]):
    """float32 bit pattern → its ``%.9g`` text."""

    def __missing__(self, bits: int) -> str:
        if len(self) >= _FORMAT_CACHE_LIMIT:
            self.clear()
        text = "%.9g" % struct.unpack("<f", struct.pack("<I", bits))[0]  # noqa: UP031 (printf %g semantics)
        self[bits] = text
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
    """A record's feature bytes → its CSV line, ``%.9g`` per value.

    Besides the per-value cache, the line's tail is cached whole when the tail columns take few distinct values
    (GDELT: 20 one-hot event-code columns, so about 20 distinct tails). Where the tail starts is chosen from the
    first rows: the longest tail whose distinct values are at most 5% of the sample.
    """

    SAMPLE_ROWS = 2048

    def __init__(self, width: int) -> None:
        self.width = width
        self.values = _FormatCache()
        self.split = width  # columns before the cached tail
        self.head = struct.Struct(f"<{width}I")
        self.tails: dict[bytes, str] = {}
        self.tail_values = struct.Struct("<0I")

    def choose_split(self, sample: list[bytes]) -> None:
        limit = max(32, len(sample) // 20)
        for split in range(self.width):
            if len({row[4 * split :] for row in sample}) <= limit:
                self.split = split
                self.head = struct.Struct(f"<{split}I")
                self.tail_values = struct.Struct(f"<{self.width - split}I")
                return

    def tail_text(self, tail: bytes) -> str:
        if len(self.tails) >= _FORMAT_CACHE_LIMIT:
            self.tails.clear()
        text = ",".join(map(self.values.__getitem__, self.tail_values.unpack(tail)))
        self.tails[tail] = text
        return text


def iter_csv_batches(
    stream: BinaryIO, source: str, max_request_bytes: int = DEFAULT_REQUEST_BYTES
) -> Iterator[CsvBatch]:
    """CSV request bodies of at most ``max_request_bytes`` each, with the labels of their rows, in order."""
    if not 0 < max_request_bytes <= MAX_REQUEST_BYTES:
        raise ValueError(f"max_request_bytes must be in 1..{MAX_REQUEST_BYTES}, got {max_request_bytes}")
    records = iter_dense_records(stream, source)
    first = next(records, None)
    if first is None:
        return
    formatter = _RowFormatter(len(first[0]) // 4)
    value_text = formatter.values.__getitem__
    unpack_all = struct.Struct(f"<{formatter.width}I").unpack
    # The first rows are formatted value by value while they show which columns repeat (see _RowFormatter).
    sampled = list(itertools.islice(itertools.chain([first], records), _RowFormatter.SAMPLE_ROWS))
    formatter.choose_split([features for features, _label in sampled])
    cut = 4 * formatter.split
    unpack_head = formatter.head.unpack
    cached_tail = formatter.tails.get
    new_tail = formatter.tail_text
    whole_rows = formatter.split == formatter.width

    lines: list[str] = []
    labels = array("d")
    size = -1  # rows are joined by "\n": n rows take sum(len) + n - 1 bytes
    index = 0
    # One loop over locals: per-row attribute lookups and generator layers cost as much as the formatting.
    for record, (features, label) in enumerate(itertools.chain(sampled, records)):
        if record < _RowFormatter.SAMPLE_ROWS or whole_rows:
            line = ",".join(map(value_text, unpack_all(features)))
        elif cut:
            tail = features[cut:]
            line = ",".join(map(value_text, unpack_head(features[:cut]))) + "," + (cached_tail(tail) or new_tail(tail))
        else:
            line = cached_tail(features) or new_tail(features)
        line_bytes = len(line) + 1  # ASCII only: characters are bytes
        if size + line_bytes > max_request_bytes:
            if line_bytes - 1 > max_request_bytes:
                raise DatasetError(f"{source}: record {record} alone is larger than {max_request_bytes} bytes as CSV")
            yield CsvBatch(index, "\n".join(lines).encode("ascii"), labels)
            index += 1
            lines, labels, size = [], array("d"), -1
        lines.append(line)
        labels.append(label)
        size += line_bytes
    if lines:
        yield CsvBatch(index, "\n".join(lines).encode("ascii"), labels)


def sum_labels(stream: BinaryIO, source: str) -> tuple[float, int]:
    """(exact sum, count) of the labels of a recordIO stream."""
    partials: list[float] = []
    labels = array("d")
    rows = 0
    for _features, label in iter_dense_records(stream, source):
        labels.append(label)
        if len(labels) == 65536:
            partials.append(math.fsum(labels))
            rows += len(labels)
            labels = array("d")
    partials.append(math.fsum(labels))
    return math.fsum(partials), rows + len(labels)
