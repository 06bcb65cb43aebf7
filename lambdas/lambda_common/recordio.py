"""RecordIO-protobuf, the format Linear Learner reads: stdlib only, so Lambda needs no bundling.

Written by hand because the protobuf runtime and the SageMaker SDK are not in the Lambda Python runtime and
nothing here may need bundling. The bytes match the SDK's ``write_numpy_to_dense_tensor`` (tests prove it):
each record is ``uint32 magic 0xCED7230A`` + ``uint32 length`` (little-endian) + a serialized
``aialgs.data.Record`` + zero padding to a multiple of 4 bytes. A dense record holds
``features["values"].float32_tensor.values`` (packed) and ``label["values"].float32_tensor.values``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import BinaryIO

MAGIC = 0xCED7230A
_HEADER = struct.Struct("<II")
_VALUES_KEY = b"values"


class RecordIOError(ValueError):
    """The bytes are not recordIO-protobuf records of dense float32 tensors."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _varint((field_number << 3) | 2) + _varint(len(payload)) + payload


def _tensor_entry(map_field: int, packed_floats: bytes) -> bytes:
    # map<string, Value> entry: key=1 "values", value=2 Value{float32_tensor=2 Float32Tensor{values=1 packed}}
    tensor = _length_delimited(1, packed_floats)
    value = _length_delimited(2, tensor)
    entry = _length_delimited(1, _VALUES_KEY) + _length_delimited(2, value)
    return _length_delimited(map_field, entry)


def encode_record(features: Sequence[float], label: float | None = None) -> bytes:
    """One framed record (header, payload, padding) for a dense float32 row and optional scalar label."""
    payload = _tensor_entry(1, struct.pack(f"<{len(features)}f", *features))
    if label is not None:
        payload += _tensor_entry(2, struct.pack("<f", label))
    return frame(payload)


def encode_label_record(key: str, values: Sequence[float]) -> bytes:
    """One framed record with only ``label[key]`` (how Linear Learner answers: ``label["score"]``)."""
    tensor = _length_delimited(1, struct.pack(f"<{len(values)}f", *values))
    entry = _length_delimited(1, key.encode()) + _length_delimited(2, _length_delimited(2, tensor))
    return frame(_length_delimited(2, entry))


def dense_record_layout(feature_dim: int) -> tuple[bytes, bytes, bytes]:
    """(head, middle, tail) such that a labelled dense record of ``feature_dim`` float32 values is
    ``head + <feature_dim float32 LE> + middle + <label float32 LE> + tail``.

    Every length prefix of a dense record depends only on ``feature_dim``, so bulk writers can copy packed
    floats between these constant pieces instead of encoding each record: same bytes as ``encode_record``.
    """
    if feature_dim < 1:
        raise ValueError("feature_dim must be at least 1")
    features_entry = _tensor_entry(1, bytes(4 * feature_dim))
    label_entry = _tensor_entry(2, bytes(4))
    payload_length = len(features_entry) + len(label_entry)
    head = _HEADER.pack(MAGIC, payload_length) + features_entry[: -4 * feature_dim]
    middle = label_entry[:-4]
    tail = b"\x00" * ((-payload_length) % 4)
    return head, middle, tail


def frame(payload: bytes) -> bytes:
    padding = (-len(payload)) % 4
    return _HEADER.pack(MAGIC, len(payload)) + payload + b"\x00" * padding


def iter_payloads(stream: BinaryIO) -> Iterator[bytes]:
    """Yield each record's serialized Record message from a recordIO stream."""
    while True:
        header = stream.read(_HEADER.size)
        if not header:
            return
        if len(header) != _HEADER.size:
            raise RecordIOError("truncated recordIO header")
        magic, length = _HEADER.unpack(header)
        if magic != MAGIC:
            raise RecordIOError(f"bad recordIO magic 0x{magic:08X}")
        length &= (1 << 29) - 1  # MXNet keeps continuation flags in the top 3 bits
        payload = stream.read(length)
        if len(payload) != length:
            raise RecordIOError("truncated recordIO record")
        stream.read((-length) % 4)
        yield payload


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise RecordIOError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) for every field of a protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise RecordIOError("truncated length-delimited field")
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire == 5:
            yield number, wire, data[pos : pos + 4]
            pos += 4
        elif wire == 1:
            yield number, wire, data[pos : pos + 8]
            pos += 8
        else:
            raise RecordIOError(f"unsupported protobuf wire type {wire}")


def _float32_values(value_message: bytes) -> list[float]:
    floats: list[float] = []
    for number, _wire, tensor in _fields(value_message):
        if number != 2 or not isinstance(tensor, bytes):
            raise RecordIOError("only float32_tensor values are supported")
        for tensor_field, tensor_wire, raw in _fields(tensor):
            if tensor_field != 1 or not isinstance(raw, bytes):
                continue  # keys/shape of sparse tensors are not used by dense data
            if tensor_wire == 2:
                if len(raw) % 4:
                    raise RecordIOError("packed float32 values are not a multiple of 4 bytes")
                floats.extend(struct.unpack(f"<{len(raw) // 4}f", raw))
            else:
                floats.extend(struct.unpack("<f", raw))
    return floats


def decode_record(payload: bytes) -> tuple[list[float], list[float]]:
    """(features, label) of one serialized Record; label is empty when the record has none."""
    tensors: dict[int, list[float]] = {1: [], 2: []}
    for number, _wire, entry in _fields(payload):
        if number not in tensors or not isinstance(entry, bytes):
            continue  # uid/metadata/configuration
        key = b""
        value = b""
        for entry_field, _entry_wire, raw in _fields(entry):
            if entry_field == 1 and isinstance(raw, bytes):
                key = raw
            elif entry_field == 2 and isinstance(raw, bytes):
                value = raw
        if key != _VALUES_KEY:
            raise RecordIOError(f"unexpected tensor key {key!r} (dense data uses 'values')")
        tensors[number] = _float32_values(value)
    return tensors[1], tensors[2]


def iter_records(stream: BinaryIO) -> Iterator[tuple[list[float], list[float]]]:
    for payload in iter_payloads(stream):
        yield decode_record(payload)
