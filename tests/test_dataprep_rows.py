"""Row parsing, filtering, code selection, shuffling and splitting (no S3)."""

from __future__ import annotations

import datetime

import pytest

from lambdas.dataprep.encoding import feature_dim_for, shuffled_order, split_point
from lambdas.dataprep.gdelt import (
    BAD_ROW_REASONS,
    FILTERED_ROW_REASONS,
    NOTE_REASONS,
    REJECT_REASONS,
    KeptRows,
    ScanStats,
    event_code_sort_key,
    scan_rows,
    source_key,
)
from lambdas.dataprep.pipeline import top_event_codes
from lambdas.lambda_common.contracts import year as checked_year


def make_row(
    code: str = "010",
    articles: str = "4",
    tone: str = "2.5",
    actor1: tuple[str, str] = ("10", "8"),
    actor2: tuple[str, str] = ("38.8951", "-77.0364"),
    *,
    daily: bool = False,
    event_id: str = "791",
    ending: str = "\n",
) -> bytes:
    """One GDELT 1.0 row: 57 historical columns, or 58 with a trailing SOURCEURL."""
    fields = [""] * (58 if daily else 57)
    fields[0], fields[1], fields[3] = event_id, "19790102", "1979"
    fields[6] = "DEPUTIES"
    fields[26], fields[27], fields[28] = code, code[:3], code[:2]
    fields[33], fields[34] = articles, tone
    fields[39], fields[40] = actor1
    fields[46], fields[47] = actor2
    fields[56] = "20130203"
    if daily:
        fields[57] = "http://example.com/story"
    return ("\t".join(fields) + ending).encode("utf-8")


def shard_scan(lines: list[bytes], codes: tuple[str, ...] = ("010", "190")) -> tuple[ScanStats, KeptRows]:
    stats, kept = ScanStats(), KeptRows()
    scan_rows(lines, stats, {code.encode(): i for i, code in enumerate(codes)}, kept=kept)
    return stats, kept


def nonzero(stats: ScanStats) -> dict[str, int]:
    return {reason: count for reason, count in stats.rejected.items() if count}


def test_valid_historical_row_is_kept_with_notebook_feature_order() -> None:
    stats, kept = shard_scan([make_row(code="190", articles="7", tone="-3.25")])
    assert nonzero(stats) == {}
    assert stats.rows_read == 1
    assert list(kept.values) == pytest.approx([7.0, 10.0, 8.0, 38.8951, -77.0364, -3.25], rel=1e-6)
    assert list(kept.code_indexes) == [1]


def test_daily_layout_row_with_source_url_is_kept_and_blank_geocode_is_missing() -> None:
    stats, kept = shard_scan(
        [
            make_row(daily=True),
            make_row(daily=True, actor1=("", "")),
            make_row(daily=True, actor2=("", "")),
        ]
    )
    assert len(kept) == 1
    assert nonzero(stats) == {"actor1GeoMissing": 1, "actor2GeoMissing": 1}


def test_notebook_filter_reasons_in_order() -> None:
    stats, kept = shard_scan(
        [
            make_row(code="020"),  # not selected (wins over the geo reasons below)
            make_row(code="020", actor1=("0", "0")),
            make_row(actor1=("0", "0"), actor2=("0", "0")),
            make_row(actor2=("0", "0")),
            make_row(actor1=("0", "5.5")),  # only (0, 0) means "no geocode"
            make_row(actor2=("12.5", "0")),
        ]
    )
    assert nonzero(stats) == {"eventCodeNotSelected": 2, "actor1GeoMissing": 1, "actor2GeoMissing": 1}
    assert len(kept) == 2
    assert stats.bad_rows == 0


def test_event_codes_stay_strings() -> None:
    stats, kept = shard_scan([make_row(code="10"), make_row(code="010")], codes=("010",))
    assert nonzero(stats) == {"eventCodeNotSelected": 1}
    assert len(kept) == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        # invalid UTF-8 in a column the pipeline reads is that column's error
        (make_row(code="04X").replace(b"\t04X\t", b"\t04\xff\t"), "badEventCode"),
        (make_row(tone="2.5").replace(b"\t2.5\t", b"\t2\xb75\t"), "nonNumeric"),
        ("\t".join(["GLOBALEVENTID", "SQLDATE", *["X"] * 55]).encode() + b"\n", "headerLine"),
        (b"GLOBALEVENTID\tSQLDATE\tMonthYear\n", "headerLine"),
        (make_row()[:-1] + b"\textra\textra\n", "wrongColumnCount"),
        (b"\n", "wrongColumnCount"),
        (b"791\t19790102\t197901\n", "wrongColumnCount"),
        (make_row(tone=""), "blankLabel"),
        (make_row(tone="  "), "blankLabel"),
        (make_row(tone="high"), "nonNumeric"),
        (make_row(articles=""), "nonNumeric"),
        (make_row(articles="four"), "nonNumeric"),
        (make_row(actor1=("", "8")), "nonNumeric"),
        (make_row(actor2=("N/A", "N/A")), "nonNumeric"),
        (make_row(tone="nan"), "outOfRange"),
        (make_row(actor1=("inf", "8")), "outOfRange"),
        (make_row(actor1=("95", "8")), "outOfRange"),
        (make_row(actor2=("10", "-181")), "outOfRange"),
        (make_row(articles="-1"), "outOfRange"),
        (make_row(tone="1e39"), "outOfRange"),
        (make_row(code=""), "badEventCode"),
        (make_row(code="04X"), "badEventCode"),
    ],
)
def test_bad_rows_are_skipped_and_counted_by_reason(line: bytes, reason: str) -> None:
    assert reason in BAD_ROW_REASONS
    stats, kept = shard_scan([make_row(event_id="1"), line, make_row(event_id="3")])
    assert nonzero(stats) == {reason: 1}
    assert stats.bad_rows == 1
    assert stats.rows_read == 3
    assert len(kept) == 2


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_crlf_line_ends_are_line_ends_counted_as_notes(ending: str) -> None:
    rows = [make_row(code="190", event_id="1", ending=ending), make_row(daily=True, event_id="2", ending=ending)]
    stats, kept = shard_scan(rows)
    assert nonzero(stats) == {} and stats.bad_rows == 0
    assert stats.notes == {"crlfLineEnding": 2, "invalidUtf8": 0}
    _, plain = shard_scan([make_row(code="190", event_id="1"), make_row(daily=True, event_id="2")])
    assert kept.values == plain.values and kept.code_indexes == plain.code_indexes


@pytest.mark.parametrize("bad_text", [b"DEPUT\xc9S", b"\xff\xfe", b"\xe2\x82"])  # Latin-1, junk, cut sequence
def test_invalid_utf8_in_an_unused_text_column_keeps_the_row(bad_text: bytes) -> None:
    row = make_row(code="190").replace(b"DEPUTIES", bad_text)
    stats, kept = shard_scan([row])
    assert nonzero(stats) == {} and stats.bad_rows == 0
    assert stats.notes == {"crlfLineEnding": 0, "invalidUtf8": 1}
    assert list(kept.values) == pytest.approx([4.0, 10.0, 8.0, 38.8951, -77.0364, 2.5], rel=1e-6)


def test_notes_are_not_rejection_reasons() -> None:
    assert not set(NOTE_REASONS) & set(REJECT_REASONS)


def test_valid_non_ascii_utf8_and_missing_final_newline_are_fine() -> None:
    rows = [make_row().replace(b"DEPUTIES", "Rhône-Alpes".encode()), make_row(ending="")]
    stats, kept = shard_scan(rows)
    assert nonzero(stats) == {}
    assert len(kept) == 2
    assert stats.bytes_read == sum(map(len, rows))


def test_profile_mode_counts_valid_rows_before_the_geo_filter() -> None:
    stats = ScanStats()
    counts: dict[bytes, int] = {}
    lines = [
        make_row(code="010"),
        make_row(code="010", actor1=("0", "0")),  # counted: the notebook's top-N precedes its geo filter
        make_row(code="190", daily=True, actor2=("", "")),
        make_row(code="190", tone=""),  # bad: not counted
        make_row(code="043", articles="x"),  # bad: not counted
        make_row(code="043")[:-1] + b"\r\n",  # a CRLF line end is a line end: counted
    ]
    scan_rows(lines, stats, None, code_counts=counts)
    assert counts == {b"010": 2, b"190": 1, b"043": 1}
    assert stats.bad_rows == 2 and stats.notes["crlfLineEnding"] == 1
    assert all(stats.rejected[reason] == 0 for reason in FILTERED_ROW_REASONS)


def test_scan_rows_needs_a_destination() -> None:
    with pytest.raises(ValueError, match="code_counts"):
        scan_rows([], ScanStats(), None)
    with pytest.raises(ValueError, match="kept"):
        scan_rows([], ScanStats(), {b"010": 0})


def test_top_codes_by_count_then_numeric_returned_in_numeric_order() -> None:
    counts = {b"190": 50, b"010": 50, b"1712": 70, b"043": 10, b"020": 9, b"10": 10}
    assert top_event_codes(counts, 3) == ["010", "190", "1712"]
    # ties at the cut: the lower numeric code wins; "010" and "10" are distinct codes, "010" sorts first
    assert top_event_codes(counts, 5) == ["010", "10", "043", "190", "1712"]
    assert sorted(["1712", "10", "010", "190"], key=event_code_sort_key) == ["010", "10", "190", "1712"]


def test_years_outside_the_complete_gdelt_years_are_rejected_with_the_year_named() -> None:
    latest = datetime.datetime.now(datetime.UTC).year - 1
    # The events' year check is the input schema's (lambdas.lambda_common.contracts.year).
    for year in (1979, 2005, 2006, 2013, latest):
        assert checked_year("year", year) == year
    for year in (1978, latest + 1):
        with pytest.raises(ValueError, match=f"year: {year} is not a complete GDELT year; .*1979-{latest}"):
            checked_year("year", year)
    for bad in ("1979", 1979.0, True, None):
        with pytest.raises(ValueError, match="must be a year"):
            checked_year("year", bad)
    assert source_key("events/", 1983) == "events/1983.csv"


def test_shuffle_is_a_seeded_permutation_and_stable_across_calls() -> None:
    order = shuffled_order(1000, seed=1729)
    assert sorted(order) == list(range(1000))
    assert list(order) == list(shuffled_order(1000, seed=1729))
    assert list(order) != list(shuffled_order(1000, seed=1730))
    assert list(order) != list(range(1000))
    # pinned: the order must not drift between Python versions or refactors (it decides the split)
    assert list(shuffled_order(10, seed=1729)) == PINNED_ORDER_10
    assert list(shuffled_order(0, seed=1)) == []
    assert list(shuffled_order(1, seed=1)) == [0]


PINNED_ORDER_10 = [5, 2, 6, 1, 0, 4, 8, 3, 7, 9]


def test_split_point_is_the_notebooks_int_of_fraction_times_rows() -> None:
    assert split_point(10, 0.9) == 9
    assert split_point(501, 0.9) == 450
    assert split_point(327_343, 0.9) == int(0.9 * 327_343)
    assert split_point(3, 0.5) == 1
    assert feature_dim_for(20) == 25
