"""Records written by data preparation are byte-identical to the SageMaker SDK's writer and decode with protobuf."""

from __future__ import annotations

import io
import os
import random
import struct
from array import array
from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from lambdas.dataprep.encoding import OneHotRecordEncoder
from lambdas.dataprep.gdelt import KeptRows
from lambdas.lambda_common import recordio

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def sdk_bytes(features: np.ndarray, labels: np.ndarray) -> bytes:
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, features.astype("float32"), labels.astype("float32"))
    return buffer.getvalue()


def record_message_class() -> Any:
    """aialgs.data.Record from record.proto (seed-facts §3.6), built with the protobuf runtime, not our code."""
    fdp = descriptor_pb2.FileDescriptorProto(name="shardlab_test_record.proto", package="aialgs.data", syntax="proto2")
    field = descriptor_pb2.FieldDescriptorProto
    packed = descriptor_pb2.FieldOptions(packed=True)
    tensor = fdp.message_type.add(name="Float32Tensor")
    tensor.field.add(name="values", number=1, label=field.LABEL_REPEATED, type=field.TYPE_FLOAT, options=packed)
    tensor.field.add(name="keys", number=2, label=field.LABEL_REPEATED, type=field.TYPE_UINT64, options=packed)
    tensor.field.add(name="shape", number=3, label=field.LABEL_REPEATED, type=field.TYPE_UINT64, options=packed)
    value = fdp.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    value.field.add(
        name="float32_tensor",
        number=2,
        label=field.LABEL_OPTIONAL,
        type=field.TYPE_MESSAGE,
        type_name=".aialgs.data.Float32Tensor",
        oneof_index=0,
    )
    record = fdp.message_type.add(name="Record")
    for number, name, entry_name in ((1, "features", "FeaturesEntry"), (2, "label", "LabelEntry")):
        entry = record.nested_type.add(name=entry_name, options=descriptor_pb2.MessageOptions(map_entry=True))
        entry.field.add(name="key", number=1, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
        entry.field.add(
            name="value", number=2, label=field.LABEL_OPTIONAL, type=field.TYPE_MESSAGE, type_name=".aialgs.data.Value"
        )
        record.field.add(
            name=name,
            number=number,
            label=field.LABEL_REPEATED,
            type=field.TYPE_MESSAGE,
            type_name=f".aialgs.data.Record.{entry_name}",
        )
    for number, name in ((3, "uid"), (4, "metadata"), (5, "configuration")):
        record.field.add(name=name, number=number, label=field.LABEL_OPTIONAL, type=field.TYPE_STRING)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("aialgs.data.Record"))


def protobuf_decode(data: bytes) -> list[tuple[list[float], list[float]]]:
    """Framing per the SDK's read_recordio, payloads parsed by the protobuf runtime."""
    record_class = record_message_class()
    rows = []
    position = 0
    while position < len(data):
        magic, length = struct.unpack_from("<II", data, position)
        assert magic == 0xCED7230A
        payload = data[position + 8 : position + 8 + length]
        position += 8 + length + (-length) % 4
        message = record_class()
        message.ParseFromString(payload)
        rows.append(
            (
                list(message.features["values"].float32_tensor.values),
                list(message.label["values"].float32_tensor.values),
            )
        )
    assert position == len(data)
    return rows


EDGE_VALUES = [0.0, -0.0, 1.0, -1.0, 1e-45, 3.4028234e38, -85.6221, 180.0, 28.571429, 1 / 3]


def random_rows(count: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 50, size=(count, width)).astype("float32")
    features.flat[: min(len(EDGE_VALUES), features.size)] = EDGE_VALUES[: features.size]
    labels = rng.normal(5, 3, size=count).astype("float32")
    return features, labels


@pytest.mark.parametrize("width", [1, 2, 3, 7, 25, 40])
def test_encode_record_and_layout_match_sdk_writer(width: int) -> None:
    features, labels = random_rows(17, width, seed=width)
    expected = sdk_bytes(features, labels)
    pairs = list(zip(features, labels, strict=True))
    encoded = b"".join(recordio.encode_record(row.tolist(), float(label)) for row, label in pairs)
    assert encoded == expected
    head, middle, tail = recordio.dense_record_layout(width)
    assembled = b"".join(
        head + row.astype("<f4").tobytes() + middle + np.float32(label).astype("<f4").tobytes() + tail
        for row, label in zip(features, labels, strict=True)
    )
    assert assembled == expected


def test_dense_record_layout_rejects_zero_width() -> None:
    with pytest.raises(ValueError, match="feature_dim"):
        recordio.dense_record_layout(0)


@pytest.mark.parametrize("code_count", [1, 3, 20, 21])
def test_one_hot_encoder_matches_sdk_writer_and_protobuf(code_count: int) -> None:
    rng = random.Random(code_count)
    kept = KeptRows()
    matrix = []
    labels = []
    for _ in range(300):
        numeric = [float(rng.randint(1, 54)), rng.uniform(-90, 90), rng.uniform(-180, 180), rng.uniform(-90, 90), 0.0]
        label = rng.uniform(-20, 28)
        code = rng.randrange(code_count)
        kept.values.extend([*numeric, label])
        kept.code_indexes.append(code)
        matrix.append([*numeric, *(1.0 if column == code else 0.0 for column in range(code_count))])
        labels.append(label)
    order = list(range(300))
    rng.shuffle(order)
    encoder = OneHotRecordEncoder(code_count)
    ours = b"".join(encoder.iter_chunks(kept, array("I", order), rows_per_chunk=64))

    features = np.array(matrix, dtype="float64")[order]
    expected = sdk_bytes(features, np.array(labels, dtype="float64")[order])
    assert ours == expected
    assert len(ours) == 300 * encoder.record_size
    decoded = protobuf_decode(ours)
    assert [row for row, _label in decoded] == features.astype("float32").tolist()
    assert [label for _row, label in decoded] == [[value] for value in np.array(labels, "float32")[order].tolist()]
    assert all(len(row) == 5 + code_count for row, _label in decoded)


def test_our_reader_and_protobuf_agree_on_sdk_output() -> None:
    features, labels = random_rows(40, 25, seed=3)
    data = sdk_bytes(features, labels)
    ours = list(recordio.iter_records(io.BytesIO(data)))
    assert ours == protobuf_decode(data)
