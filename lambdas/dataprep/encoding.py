"""Kept rows → recordIO-protobuf bytes, and the seeded shuffle that orders them.

No numpy in Lambda, so both are stdlib. Records are assembled from constant pieces
(``recordio.dense_record_layout``) plus the row's packed float32 values and a precomputed one-hot block per
event code: the bytes equal the SageMaker SDK's ``write_numpy_to_dense_tensor`` for the same float32 rows.
"""

from __future__ import annotations

import random
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator

from lambdas.dataprep.gdelt import NUMERIC_FEATURES, VALUES_PER_ROW, KeptRows
from lambdas.lambda_common.recordio import dense_record_layout

_ROW_BYTES = 4 * VALUES_PER_ROW
_FEATURE_BYTES = 4 * len(NUMERIC_FEATURES)


def feature_dim_for(code_count: int) -> int:
    return len(NUMERIC_FEATURES) + code_count


def shuffled_order(row_count: int, seed: int) -> array:
    """A permutation of ``range(row_count)``: Fisher-Yates driven by ``random.Random(seed).random()``.

    Hand-rolled rather than ``random.shuffle`` because Python guarantees only ``random()``'s sequence for a
    given seed across versions, so this order is reproducible on every Python 3. (The pick
    ``int(random() * (i + 1))`` has a bias below 2**-40 for any realistic row count.) It does not reproduce
    pandas' ``sample(random_state=1729)``; only the determinism matters.
    """
    order = array("I", range(row_count))
    draw = random.Random(seed).random
    for i in range(row_count - 1, 0, -1):
        j = int(draw() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def split_point(row_count: int, train_fraction: float) -> int:
    """Rows before this index go to train, the rest to validation (the notebook's ``int(0.9 * n)``)."""
    return int(train_fraction * row_count)


class OneHotRecordEncoder:
    """Encodes kept rows as dense records: 5 numeric features, one-hot event code, AvgTone label."""

    def __init__(self, code_count: int) -> None:
        if code_count < 1:
            raise ValueError("at least one event code is needed")
        self.feature_dim = feature_dim_for(code_count)
        self._head, middle, self._tail = dense_record_layout(self.feature_dim)
        self.record_size = len(self._head) + 4 * self.feature_dim + len(middle) + 4 + len(self._tail)
        self._one_hot_then_middle = [
            struct.pack(f"<{code_count}f", *(1.0 if column == index else 0.0 for column in range(code_count))) + middle
            for index in range(code_count)
        ]

    def iter_chunks(self, kept: KeptRows, order: Iterable[int], rows_per_chunk: int = 8192) -> Iterator[bytes]:
        """Records of ``kept`` rows in ``order``, joined into chunks of up to ``rows_per_chunk`` records."""
        values = kept.values
        if sys.byteorder != "little":
            values = array("f", values)
            values.byteswap()
        raw = memoryview(values).cast("B")  # no copy of the kept values
        codes = kept.code_indexes
        head, tail, one_hot = self._head, self._tail, self._one_hot_then_middle
        pieces: list[bytes | memoryview] = []
        add = pieces.extend
        pending = 0
        for row in order:
            start = row * _ROW_BYTES
            label_start = start + _FEATURE_BYTES
            add((head, raw[start:label_start], one_hot[codes[row]], raw[label_start : label_start + 4], tail))
            pending += 1
            if pending == rows_per_chunk:
                yield b"".join(pieces)
                pieces.clear()
                pending = 0
        if pieces:
            yield b"".join(pieces)
