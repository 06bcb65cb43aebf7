"""Streaming the recordIO test and train objects: CSV request batches for scoring, labels for the metrics.

Speed matters here (the Lambda formats every test value once): records written by the SDK's dense writer
all share one byte layout, so after the first record is decoded in full, the rest are checked against that
layout and their floats read with one ``struct`` call; any other record goes through the full decoder.
Features are formatted with ``%.9g`` (enough digits that the CSV parses back to the same float32), cached
by their bit pattern because GDELT features repeat heavily (one-hot codes, article counts, place centroids).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lambda_common import recordio

MAX_REQUEST_BYTES = 5 * 1024 * 1024  # InvokeEndpoint accepts 6 MiB; keep a margin as the seed notebook did
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


def iter_payloads(stream: BinaryIO, source: str) -> Iterator[bytes]:
    """Each record's payload from a recordIO stream, read in 1 MiB chunks (one ``read`` per record is slow)."""
    data = b""
    pos = 0
    record = 0

    def fill(needed: int) -> bool:
        """Make ``data[pos:]`` hold at least ``needed`` bytes; False at end of stream."""
        nonlocal data, pos
        if len(data) - pos >= needed:
            return True
        parts = [data[pos:]]
        available = len(parts[0])
        while available < needed:
            chunk = stream.read(max(_READ_CHUNK, needed - available))
            if not chunk:
                break
            parts.append(chunk)
            available += len(chunk)
        data, pos = b"".join(parts), 0
        return available >= needed

    while True:
        if not fill(_HEADER.size):
            if len(data) - pos:
                raise DatasetError(f"{source}: truncated recordIO header after record {record}")
            return
        magic, length = _HEADER.unpack_from(data, pos)
        if magic != recordio.MAGIC:
            raise DatasetError(f"{source}: record {record} has bad recordIO magic 0x{magic:08X}")
        length &= _LENGTH_MASK
        padded = _HEADER.size + length + (-length) % 4
        if not fill(padded):
            raise DatasetError(f"{source}: record {record} is truncated")
        yield data[pos + _HEADER.size : pos + _HEADER.size + length]
        pos += padded
        record += 1


class _FormatCache(dict[int, str]):
    """float32 bit pattern → its ``%.9g`` text."""

    def __missing__(self, bits: int) -> str:
        if len(self) >= _FORMAT_CACHE_LIMIT:
            self.clear()
        text = "%.9g" % struct.unpack("<f", struct.pack("<I", bits))[0]  # noqa: UP031 (printf %g semantics)
        self[bits] = text
        return text


@dataclass
class DenseRecordReader:
    """Decodes (feature bits, label) of dense records, checking every record has the same feature count."""

    source: str
    feature_dim: int = 0
    _prefix: bytes = b""
    _record_size: int = 0
    _features: struct.Struct | None = None

    def _learn_layout(self, features: list[float]) -> None:
        self.feature_dim = len(features)
        framed = recordio.encode_record([0.0] * self.feature_dim, 0.0)
        payload = framed[_HEADER.size : _HEADER.size + _HEADER.unpack_from(framed)[1]]
        self._record_size = len(payload)
        self._prefix = payload[: len(payload) - 4 * self.feature_dim - len(_LABEL_PREFIX) - 4]
        self._features = struct.Struct(f"<{self.feature_dim}I")

    def read(self, payload: bytes, record: int) -> tuple[tuple[int, ...], float]:
        features_struct = self._features
        if (
            features_struct is not None
            and len(payload) == self._record_size
            and payload.startswith(self._prefix)
            and payload[-4 - len(_LABEL_PREFIX) : -4] == _LABEL_PREFIX
        ):
            return features_struct.unpack_from(payload, len(self._prefix)), struct.unpack_from(
                "<f", payload, self._record_size - 4
            )[0]
        try:
            features, label = recordio.decode_record(payload)
        except recordio.RecordIOError as error:
            raise DatasetError(f"{self.source}: record {record}: {error}") from error
        if len(label) != 1:
            raise DatasetError(f"{self.source}: record {record} has {len(label)} label values, expected 1")
        if not features:
            raise DatasetError(f"{self.source}: record {record} has no features")
        if features_struct is None:
            self._learn_layout(features)
        elif len(features) != self.feature_dim:
            raise DatasetError(
                f"{self.source}: record {record} has {len(features)} features, earlier records have {self.feature_dim}"
            )
        bits = struct.unpack(f"<{len(features)}I", struct.pack(f"<{len(features)}f", *features))
        return bits, label[0]


@dataclass(frozen=True)
class CsvBatch:
    index: int
    body: bytes  # text/csv, features only
    labels: array  # array('d'), one label per row of body

    @property
    def rows(self) -> int:
        return len(self.labels)


def iter_csv_batches(stream: BinaryIO, source: str, max_request_bytes: int = MAX_REQUEST_BYTES) -> Iterator[CsvBatch]:
    """CSV request bodies of at most ``max_request_bytes`` each, with the labels of their rows, in order."""
    reader = DenseRecordReader(source)
    cache = _FormatCache()
    text = cache.__getitem__
    lines: list[str] = []
    labels = array("d")
    size = -1  # rows are joined by "\n": n rows take sum(len) + n - 1 bytes
    index = 0
    for record, payload in enumerate(iter_payloads(stream, source)):
        bits, label = reader.read(payload, record)
        line = ",".join(map(text, bits))
        line_bytes = len(line) + 1  # ASCII only: characters are bytes
        if line_bytes - 1 > max_request_bytes:
            raise DatasetError(f"{source}: record {record} alone is larger than {max_request_bytes} bytes as CSV")
        if size + line_bytes > max_request_bytes:
            yield CsvBatch(index, "\n".join(lines).encode("ascii"), labels)
            index += 1
            lines, labels, size = [], array("d"), -1
        lines.append(line)
        labels.append(label)
        size += line_bytes
    if lines:
        yield CsvBatch(index, "\n".join(lines).encode("ascii"), labels)


def sum_labels(stream: BinaryIO, source: str) -> tuple[float, int]:
    """(sum, count) of the labels of a recordIO stream, reading only the label bytes of dense records."""
    partials: list[float] = []
    total_rows = 0
    labels = array("d")
    prefix_length = len(_LABEL_PREFIX)
    for record, payload in enumerate(iter_payloads(stream, source)):
        if payload[-4 - prefix_length : -4] == _LABEL_PREFIX:
            labels.append(struct.unpack_from("<f", payload, len(payload) - 4)[0])
        else:
            try:
                _features, label = recordio.decode_record(payload)
            except recordio.RecordIOError as error:
                raise DatasetError(f"{source}: record {record}: {error}") from error
            if len(label) != 1:
                raise DatasetError(f"{source}: record {record} has {len(label)} label values, expected 1")
            labels.append(label[0])
        if len(labels) >= 65536:
            partials.append(_exact_sum(labels))
            total_rows += len(labels)
            labels = array("d")
    partials.append(_exact_sum(labels))
    total_rows += len(labels)
    return _exact_sum(partials), total_rows


def _exact_sum(values: Iterable[float]) -> float:
    return math.fsum(values)
