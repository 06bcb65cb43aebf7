"""Fast numpy reader for dense recordIO-protobuf (the layout ``write_numpy_to_dense_tensor`` writes).

Every record of such a file has the same byte layout: only the float values differ. So the file is viewed as
an array of fixed-size records and the feature and label floats are sliced out with ``np.frombuffer``; the
non-float bytes of every record are compared with a template record to prove the layout holds. Anything
else (sparse tensors, mixed lengths, uid/metadata fields) falls back to the stdlib decoder in
``lambdas.lambda_common.recordio``.
"""

from __future__ import annotations

import io

import numpy as np

from lambdas.lambda_common import recordio


def _template(feature_dim: int, with_label: bool) -> tuple[bytes, int, int | None]:
    """A framed record of zeros, the offset of its feature floats, and of its label float (or None)."""
    feature_entry = recordio._tensor_entry(1, b"\x00" * (4 * feature_dim))
    label_entry = recordio._tensor_entry(2, b"\x00" * 4) if with_label else b""
    framed = recordio.frame(feature_entry + label_entry)
    feature_offset = 8 + len(feature_entry) - 4 * feature_dim
    label_offset = 8 + len(feature_entry) + len(label_entry) - 4 if with_label else None
    return framed, feature_offset, label_offset


def _fast_path(blob: bytes) -> tuple[np.ndarray, np.ndarray | None] | None:
    if len(blob) < 8:
        return None
    first = next(recordio.iter_payloads(io.BytesIO(blob[: 8 + int.from_bytes(blob[4:8], "little") + 3])), None)
    if first is None:
        return None
    features, label = recordio.decode_record(first)
    if len(label) > 1 or not features:
        return None
    template, feature_offset, label_offset = _template(len(features), bool(label))
    stride = len(template)
    if len(blob) % stride:
        return None
    records = np.frombuffer(blob, dtype=np.uint8).reshape(-1, stride)
    fixed = np.ones(stride, dtype=bool)
    fixed[feature_offset : feature_offset + 4 * len(features)] = False
    if label_offset is not None:
        fixed[label_offset : label_offset + 4] = False
    expected = np.frombuffer(template, dtype=np.uint8)[fixed]
    if not np.array_equal(records[:, fixed], np.broadcast_to(expected, (records.shape[0], expected.size))):
        return None
    x = records[:, feature_offset : feature_offset + 4 * len(features)].copy().view("<f4")
    y = None
    if label_offset is not None:
        y = records[:, label_offset : label_offset + 4].copy().view("<f4").reshape(-1)
    return x, y


def read_dense(blob: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """(features float32 [rows, dim], labels float32 [rows] or None) of a dense recordIO-protobuf object."""
    fast = _fast_path(blob)
    if fast is not None:
        return fast
    rows: list[list[float]] = []
    labels: list[float] = []
    for features, label in recordio.iter_records(io.BytesIO(blob)):
        if rows and len(features) != len(rows[0]):
            raise recordio.RecordIOError(
                f"record {len(rows)} has {len(features)} features, earlier records have {len(rows[0])}"
            )
        if len(label) > 1:
            raise recordio.RecordIOError(f"record {len(rows)} has a label of {len(label)} values, expected 1")
        if rows and bool(label) != bool(labels):
            raise recordio.RecordIOError(f"record {len(rows)} differs from the first in having a label")
        rows.append(features)
        labels.extend(label)
    x = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1 if rows else 0)
    y = np.asarray(labels, dtype=np.float32) if labels else None
    return x, y
