"""lambdas.compare.testdata: recordIO streaming, CSV batching at the size limit, float32-exact text, label sums."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest

from lambdas.compare.testdata import DatasetError, iter_csv_batches, iter_payloads, parse_s3_uri, sum_labels
from lambdas.lambda_common import recordio


def records(rows: list[list[float]], labels: list[float]) -> bytes:
    return b"".join(recordio.encode_record(r, y) for r, y in zip(rows, labels, strict=True))


class TrickleStream(io.RawIOBase):
    """Returns at most ``step`` bytes per read, as a network stream may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk


def rows_of(bodies: list[bytes]) -> list[list[float]]:
    return [
        [float(np.float32(value)) for value in line.split(",")] for body in bodies for line in body.decode().split("\n")
    ]


def test_csv_round_trips_every_float32_exactly() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.normal(0, 1e3, (200, 4)).astype(np.float32),
            np.array([[0.1, -0.0, 3.4028235e38, 1.4e-45]], dtype=np.float32),
        ]
    )
    y = rng.normal(size=len(x)).astype(np.float32)
    batches = list(iter_csv_batches(io.BytesIO(records(x.tolist(), y.tolist())), "mem"))
    assert len(batches) == 1
    assert rows_of([b.body for b in batches]) == x.tolist()
    assert list(batches[0].labels) == y.tolist()
    assert batches[0].body.split(b"\n")[-1] == b"0.100000001,-0,3.40282347e+38,1.40129846e-45"


def test_batches_fill_up_to_the_byte_limit_and_never_over() -> None:
    # Every row is "1,2" (3 bytes) plus "\n" between rows: 5 rows take 3*5+4 = 19 bytes.
    data = records([[1.0, 2.0]] * 23, [0.5] * 23)
    batches = list(iter_csv_batches(io.BytesIO(data), "mem", max_request_bytes=19))
    assert [len(b.body) for b in batches] == [19, 19, 19, 19, 11]
    assert [b.rows for b in batches] == [5, 5, 5, 5, 3]
    assert [b.index for b in batches] == [0, 1, 2, 3, 4]
    # one byte less and a batch holds only 4 rows
    assert [b.rows for b in iter_csv_batches(io.BytesIO(data), "mem", max_request_bytes=18)] == [4] * 5 + [3]


def test_the_request_size_is_capped_at_5_mib() -> None:
    from lambdas.compare.testdata import MAX_REQUEST_BYTES

    assert MAX_REQUEST_BYTES == 5 * 1024 * 1024
    data = records([[1.0, 2.0]], [0.5])
    assert [b.body for b in iter_csv_batches(io.BytesIO(data), "mem", max_request_bytes=MAX_REQUEST_BYTES)] == [b"1,2"]
    for bad in (0, MAX_REQUEST_BYTES + 1):
        with pytest.raises(ValueError, match="max_request_bytes must be in"):
            list(iter_csv_batches(io.BytesIO(data), "mem", max_request_bytes=bad))


def test_default_batches_stay_under_the_default_size() -> None:
    from lambdas.compare.testdata import DEFAULT_REQUEST_BYTES

    rng = np.random.default_rng(9)
    x = rng.normal(size=(40_000, 4)).astype(np.float32)
    batches = list(iter_csv_batches(io.BytesIO(records(x.tolist(), [0.0] * len(x))), "mem"))
    assert len(batches) > 1
    assert all(len(b.body) <= DEFAULT_REQUEST_BYTES for b in batches)
    assert len(batches[0].body) > DEFAULT_REQUEST_BYTES - 100  # filled up to the limit
    assert sum(b.rows for b in batches) == 40_000


def test_a_row_larger_than_the_limit_is_an_error() -> None:
    with pytest.raises(DatasetError, match="record 0 alone is larger than 5 bytes"):
        list(iter_csv_batches(io.BytesIO(records([[1.5, 2.5]], [1.0])), "s3://b/test.data", max_request_bytes=5))


def test_trickling_stream_gives_the_same_batches() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 7)).astype(np.float32)
    y = rng.normal(size=300).astype(np.float32)
    data = records(x.tolist(), y.tolist())
    whole = list(iter_csv_batches(io.BytesIO(data), "mem", max_request_bytes=4096))
    trickled = list(iter_csv_batches(TrickleStream(data, 7), "mem", max_request_bytes=4096))
    assert [(b.body, list(b.labels)) for b in whole] == [(b.body, list(b.labels)) for b in trickled]
    assert len(whole) > 3


def test_records_outside_the_dense_layout_use_the_full_decoder() -> None:
    plain = recordio.encode_record([1.0, 2.0], 3.0)
    # same record with a uid field (Record field 3) appended: not the writer's layout
    payload = plain[8 : 8 + struct.unpack_from("<I", plain, 4)[0]] + b"\x1a\x03abc"
    data = plain + recordio.frame(payload) + plain
    batches = list(iter_csv_batches(io.BytesIO(data), "mem"))
    assert batches[0].body == b"1,2\n1,2\n1,2"
    assert list(batches[0].labels) == [3.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (records([[1.0, 2.0], [1.0, 2.0, 3.0]], [0.0, 0.0]), "record 1 has 3 features, earlier records have 2"),
        (recordio.encode_record([1.0, 2.0]), "record 0 has 0 label values, expected 1"),
        (records([[1.0, 2.0]], [0.0])[:-3], "record 0 is truncated"),
        (records([[1.0, 2.0]], [0.0]) + b"\x0a\x23", "truncated recordIO header after record 1"),
        (b"\x00" * 16, "record 0 has bad recordIO magic"),
    ],
)
def test_bad_records_are_named(data: bytes, fragment: str) -> None:
    with pytest.raises(DatasetError, match=f"s3://b/test.data: {fragment}"):
        list(iter_csv_batches(io.BytesIO(data), "s3://b/test.data"))


def test_empty_stream_gives_no_batches() -> None:
    assert list(iter_csv_batches(io.BytesIO(b""), "mem")) == []
    assert list(iter_payloads(io.BytesIO(b""), "mem")) == []


def test_sum_labels_matches_numpy_and_reads_other_layouts() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(5, 2, 70_000).astype(np.float32)
    x = np.ones((y.size, 3), dtype=np.float32)
    plain = recordio.encode_record([1.0, 1.0, 1.0], 2.5)
    odd = recordio.frame(plain[8 : 8 + struct.unpack_from("<I", plain, 4)[0]] + b"\x1a\x01u")
    total, rows = sum_labels(io.BytesIO(records(x.tolist(), y.tolist()) + odd), "mem")
    assert rows == y.size + 1
    assert total == math.fsum([*y.astype(np.float64).tolist(), 2.5])


def test_parse_s3_uri() -> None:
    assert parse_s3_uri("s3://bucket/a/b.data") == ("bucket", "a/b.data")
    for bad in ("bucket/key", "s3://bucket", "s3:///key", ""):
        with pytest.raises(DatasetError):
            parse_s3_uri(bad)


def expected_lines(x: np.ndarray) -> list[str]:
    return [",".join("%.9g" % v for v in row) for row in x.tolist()]  # noqa: UP031 (the printf spelling under test)


@pytest.mark.parametrize("layout", ["one-hot tail", "all columns repeat", "all columns unique"])
def test_lines_past_the_sample_rows_match_printf_formatting(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.compare import testdata

    monkeypatch.setattr(testdata, "_FORMAT_CACHE_LIMIT", 50)  # the caches are cleared many times
    rng = np.random.default_rng(17)
    rows = 5000
    x = np.zeros((rows, 8), dtype=np.float32)
    if layout == "one-hot tail":
        x[:, :3] = rng.normal(0, 100, (rows, 3))
        # codes 0-2 during the sample rows, then codes never seen while choosing the split
        codes = np.where(np.arange(rows) < 2048, rng.integers(0, 3, rows), rng.integers(0, 5, rows))
        x[np.arange(rows), 3 + codes] = 1
    elif layout == "all columns repeat":
        x[:] = rng.integers(0, 2, (rows, 8))
    else:
        x[:] = rng.normal(0, 1, (rows, 8))
    y = rng.normal(size=rows).astype(np.float32)
    batches = list(iter_csv_batches(io.BytesIO(records(x.tolist(), y.tolist())), "mem", max_request_bytes=30_000))
    assert "\n".join(b.body.decode() for b in batches).split("\n") == expected_lines(x)
    assert [label for b in batches for label in b.labels] == y.tolist()


def test_the_cached_tail_starts_after_the_last_many_valued_column() -> None:
    from lambdas.compare.testdata import _RowFormatter

    rng = np.random.default_rng(2)
    x = np.zeros((2048, 8), dtype=np.float32)
    x[:, :3] = rng.normal(size=(2048, 3))
    x[np.arange(2048), 3 + rng.integers(0, 5, 2048)] = 1
    formatter = _RowFormatter(8)
    formatter.choose_split([row.tobytes() for row in x])
    assert formatter.split == 3
    unique = _RowFormatter(8)
    unique.choose_split([row.tobytes() for row in rng.normal(size=(2048, 8)).astype(np.float32)])
    assert unique.split == 8


def gdelt_like(rows: int, seed: int) -> np.ndarray:
    """Article counts, two places (each a latitude and longitude from a pool), a one-hot code of 5."""
    rng = np.random.default_rng(seed)
    places = rng.uniform(-90, 90, (300, 2)).astype(np.float32)
    x = np.zeros((rows, 10), dtype=np.float32)
    x[:, 0] = rng.integers(1, 50, rows)
    x[:, 1:3] = places[rng.integers(0, 300, rows)]
    x[:, 3:5] = places[rng.integers(0, 300, rows)]
    x[np.arange(rows), 5 + rng.integers(0, 5, rows)] = 1
    return x


def test_columns_that_repeat_together_are_one_piece_of_the_row() -> None:
    from lambdas.compare.testdata import _RowFormatter

    x = gdelt_like(2048, seed=5)
    formatter = _RowFormatter(10)
    formatter.choose_split([row.tobytes() for row in x])
    # the count alone, each place's latitude and longitude together, the one-hot codes as the cached tail
    assert formatter.pieces == [(0, 1), (1, 3), (3, 5), (5, 10)]
    x[:, 2] = np.random.default_rng(6).normal(size=2048)  # a longitude that no longer follows its latitude
    formatter.choose_split([row.tobytes() for row in x])
    assert formatter.pieces == [(0, 1), (1, 2), (2, 3), (3, 5), (5, 10)]
    unique = _RowFormatter(8)
    unique.choose_split([row.tobytes() for row in np.random.default_rng(7).normal(size=(2048, 8)).astype(np.float32)])
    assert unique.pieces == [(column, column + 1) for column in range(8)]


@pytest.mark.parametrize("cache_limit", [50, 500_000])
def test_rows_cut_into_pieces_are_printf_formatted(cache_limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.compare import testdata

    monkeypatch.setattr(testdata, "_FORMAT_CACHE_LIMIT", cache_limit)  # 50: the cache is cleared many times
    x = gdelt_like(6000, seed=8)
    x[4000:, 1:3] = np.float32(-0.0), np.float32(1e-40)  # a signed zero and a subnormal, in a pair after the sample
    y = np.random.default_rng(9).normal(size=6000).astype(np.float32)
    batches = list(iter_csv_batches(io.BytesIO(records(x.tolist(), y.tolist())), "mem", max_request_bytes=40_000))
    assert [line for b in batches for line in b.body.decode().split("\n")] == expected_lines(x)
    assert [label for b in batches for label in b.labels] == y.tolist()


def test_strided_runs_read_what_the_full_decoder_reads() -> None:
    from lambdas.compare.testdata import iter_dense_runs

    rng = np.random.default_rng(23)
    bits = rng.integers(0, 2**32, (500, 6), dtype=np.uint64).astype(np.uint32)
    bits[np.isnan(bits.view(np.float32))] = 0x7F800000  # NaN payloads aside, every bit pattern (inf included)
    x = bits.view(np.float32)
    y = rng.normal(size=500).astype(np.float32)
    data = records(x.tolist(), y.tolist())
    runs = list(iter_dense_runs(TrickleStream(data, 1000), "mem", max_rows=64))
    assert sum(run.rows for run in runs) == 500
    assert max(run.rows for run in runs) == 64
    assert [b for run in runs for b in run.feature_rows()] == [row.tobytes() for row in x]
    for column in range(6):
        assert [v for run in runs for v in run.feature_bits(column)] == bits[:, column].tolist()
    assert [v for run in runs for v in run.labels()] == y.tolist()


def test_a_record_outside_the_layout_splits_a_run_and_is_decoded_in_full() -> None:
    from lambdas.compare.testdata import iter_dense_runs

    rows = [[float(i), float(-i)] for i in range(40)]
    plain = [recordio.encode_record(row, i / 2) for i, row in enumerate(rows)]
    odd = recordio.frame(plain[17][8 : 8 + struct.unpack_from("<I", plain[17], 4)[0]] + b"\x1a\x01u")
    data = b"".join([*plain[:17], odd, *plain[18:]])
    runs = list(iter_dense_runs(io.BytesIO(data), "mem", max_rows=1000))
    # the first record is always decoded in full (it shows the layout), then 16 fast, the odd one, the rest
    assert [run.rows for run in runs] == [1, 16, 1, 22]
    assert [b for run in runs for b in run.feature_rows()] == [struct.pack("<2f", *row) for row in rows]
    assert [v for run in runs for v in run.labels()] == [i / 2 for i in range(40)]


@pytest.mark.parametrize("run_rows", [1, 3, 64])
def test_batches_across_run_boundaries_are_filled_to_the_limit(run_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.compare import testdata

    monkeypatch.setattr(testdata, "_CSV_RUN_ROWS", run_rows)
    rng = np.random.default_rng(run_rows)
    x = rng.normal(0, 50, (700, 3)).astype(np.float32)
    y = rng.normal(size=700).astype(np.float32)
    limit = 997
    batches = list(iter_csv_batches(io.BytesIO(records(x.tolist(), y.tolist())), "mem", max_request_bytes=limit))
    lines = expected_lines(x)
    assert [line for b in batches for line in b.body.decode().split("\n")] == lines
    assert [label for b in batches for label in b.labels] == y.tolist()
    assert [b.index for b in batches] == list(range(len(batches)))
    start = 0
    for batch in batches:
        assert len(batch.body) <= limit
        start += batch.rows
        if start < len(lines):  # full: the next row would not have fitted
            assert len(batch.body) + 1 + len(lines[start]) > limit


def test_every_float32_text_is_printf_9g_and_parses_back_to_the_same_bits() -> None:
    rng = np.random.default_rng(29)
    bits = rng.integers(0, 2**32, (3000, 5), dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x[~np.isfinite(x)] = 1.5
    x[:, 3:] = rng.integers(0, 2, (3000, 2))  # a repeating tail, formatted from the tail cache
    batches = list(iter_csv_batches(io.BytesIO(records(x.tolist(), [0.0] * 3000)), "mem"))
    lines = [line for b in batches for line in b.body.decode().split("\n")]
    assert lines == expected_lines(x)
    parsed = np.array([[np.float32(value) for value in line.split(",")] for line in lines], dtype=np.float32)
    assert parsed.view(np.uint32).tolist() == x.view(np.uint32).tolist()
