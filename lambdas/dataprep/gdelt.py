"""GDELT 1.0 event rows: the column layout, the yearly files GDELT publishes, and a fast row scanner.

The scanner is written by hand instead of using ``csv`` or pandas: the Lambda runtime has no pandas, GDELT
files are tab-separated without quoting, and splitting bytes on tabs is several times faster than the csv
module. Rows are bytes end to end; only non-ASCII rows are decoded, to check that they are valid UTF-8.

Both GDELT 1.0 layouts are accepted row by row: the 57-column historical backfile (missing coordinates
written as ``0``) and the 58-column daily exports (missing coordinates left blank, trailing SOURCEURL).
A blank latitude *and* longitude is the same "no geocode" as ``(0, 0)``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from lambdas.lambda_common.gdelt_sources import LAST_YEARLY_FILE, latest_complete_year  # noqa: F401 (re-exported)

HISTORICAL_COLUMNS = 57
DAILY_COLUMNS = 58
# 0-based column positions, identical in both layouts (CSV.header.historical.txt)
GLOBALEVENTID, EVENT_CODE, NUM_ARTICLES, AVG_TONE = 0, 26, 33, 34
ACTOR1_LAT, ACTOR1_LONG, ACTOR2_LAT, ACTOR2_LONG = 39, 40, 46, 47

# Feature order of every record (the one-hot event codes follow), as the seed notebook's get_dummies frame.
NUMERIC_FEATURES = ("NumArticles", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long")
LABEL = "AvgTone"
VALUES_PER_ROW = len(NUMERIC_FEATURES) + 1  # the kept-row store holds the 5 features then the label

# Rows that are malformed: skipped, counted, and held against maxBadRowFraction.
BAD_ROW_REASONS = (
    "headerLine",
    "wrongColumnCount",
    "blankLabel",
    "nonNumeric",
    "outOfRange",
    "badEventCode",
)
# Well-formed rows the seed notebook's filter drops (first matching reason wins, in this order).
FILTERED_ROW_REASONS = ("eventCodeNotSelected", "actor1GeoMissing", "actor2GeoMissing")
REJECT_REASONS = BAD_ROW_REASONS + FILTERED_ROW_REASONS
# Rows GDELT users meet that are still good rows: counted as notes, never rejected for it. A CRLF line end
# (a file saved on Windows) is a line end; invalid UTF-8 can only sit in a text column the pipeline does not
# read, because every column it reads must parse as an ASCII number or digit code (else the row is
# nonNumeric / badEventCode).
NOTE_REASONS = ("crlfLineEnding", "invalidUtf8")

_HEADER_START = b"GLOBALEVENTID"
_VALID_COLUMN_COUNTS = frozenset((HISTORICAL_COLUMNS, DAILY_COLUMNS))
_CR_ENDINGS = (b"\r\n", b"\r")


def source_key(source_prefix: str, year: int) -> str:
    """The yearly file of a year up to 2005."""
    return f"{source_prefix}{year}.csv"


def event_code_sort_key(code: str) -> tuple[int, str]:
    """Numeric order, as the notebook's get_dummies columns; the string breaks ties ("010" before "10")."""
    return int(code), code


@dataclass
class ScanStats:
    rows_read: int = 0
    bytes_read: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    notes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NOTE_REASONS, 0))

    @property
    def bad_rows(self) -> int:
        return sum(self.rejected[reason] for reason in BAD_ROW_REASONS)

    def bad_row_summary(self) -> str:
        return ", ".join(f"{r}={self.rejected[r]}" for r in BAD_ROW_REASONS if self.rejected[r])


@dataclass
class KeptRows:
    """Kept rows in compact form: 6 float32 per row (5 features, label) and the event code's column index."""

    values: array = field(default_factory=lambda: array("f"))
    code_indexes: array = field(default_factory=lambda: array("H"))

    def __len__(self) -> int:
        return len(self.code_indexes)


def _parse_unusual(fields: list[bytes]) -> tuple[float, float, float, float, float, float] | str:
    """Slow path for a row whose numbers did not all parse: blank geocodes, or the reason it is bad."""
    if fields[GLOBALEVENTID] == _HEADER_START:
        return "headerLine"
    if not fields[AVG_TONE].strip():
        return "blankLabel"
    try:
        articles = float(fields[NUM_ARTICLES])
        tone = float(fields[AVG_TONE])
        coordinates: list[float] = []
        for lat_col, long_col in ((ACTOR1_LAT, ACTOR1_LONG), (ACTOR2_LAT, ACTOR2_LONG)):
            lat, long = fields[lat_col], fields[long_col]
            if not lat.strip() and not long.strip():
                coordinates += (0.0, 0.0)  # daily layout: no geocode
            else:
                coordinates += (float(lat), float(long))
    except ValueError:
        return "nonNumeric"
    return articles, tone, coordinates[0], coordinates[1], coordinates[2], coordinates[3]


def _check_scan_mode(
    selected_codes: dict[bytes, int] | None, code_counts: dict[bytes, int] | None, kept: KeptRows | None
) -> None:
    if selected_codes is None and code_counts is None:
        raise ValueError("profile mode needs code_counts")
    if selected_codes is not None and kept is None:
        raise ValueError("shard mode needs kept")


def _is_utf8(line: bytes) -> bool:
    """Only called for the rare non-ASCII row (the fast path's ``isascii`` runs in C)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def scan_rows(  # noqa: C901, PLR0912, PLR0915 -- the per-row hot loop: each rejection reason inline, no call per row
    lines: Iterable[bytes],
    stats: ScanStats,
    selected_codes: dict[bytes, int] | None,
    code_counts: dict[bytes, int] | None = None,
    kept: KeptRows | None = None,
) -> None:
    """Classify every line; count codes of valid rows (profile) or keep the selected rows (shard).

    With ``selected_codes`` None, every valid row's event code is counted in ``code_counts`` (the
    notebook's top-N is taken before its geo filter). Otherwise rows whose code is in ``selected_codes``
    and whose actors both have a geocode are appended to ``kept``. One loop for both, with the common
    case (an ASCII row whose numbers parse) on the fast path.
    """
    _check_scan_mode(selected_codes, code_counts, kept)
    rejected = stats.rejected
    notes = stats.notes
    rows_read = 0
    bytes_read = 0
    keep_values = kept.values.extend if kept is not None else None
    keep_code = kept.code_indexes.append if kept is not None else None
    for line in lines:
        rows_read += 1
        bytes_read += len(line)
        if not line.isascii() and not _is_utf8(line):
            notes["invalidUtf8"] += 1  # the columns read below are checked as ASCII numbers anyway
        # One full split: as fast as a bounded one, and it yields the column count and the line ending.
        fields = line.split(b"\t")
        if fields[-1].endswith(_CR_ENDINGS):
            notes["crlfLineEnding"] += 1  # the last column (DATEADDED / SOURCEURL) is never read
        if len(fields) not in _VALID_COLUMN_COUNTS:
            rejected["headerLine" if line.startswith(_HEADER_START) else "wrongColumnCount"] += 1
            continue
        try:
            articles = float(fields[NUM_ARTICLES])
            tone = float(fields[AVG_TONE])
            lat1 = float(fields[ACTOR1_LAT])
            long1 = float(fields[ACTOR1_LONG])
            lat2 = float(fields[ACTOR2_LAT])
            long2 = float(fields[ACTOR2_LONG])
        except ValueError:
            parsed = _parse_unusual(fields)
            if isinstance(parsed, str):
                rejected[parsed] += 1
                continue
            articles, tone, lat1, long1, lat2, long2 = parsed
        # Chained comparisons are False for NaN, so this also rejects "nan"/"inf" spellings.
        if not (
            0.0 <= articles <= 1e9
            and -100.0 <= tone <= 100.0
            and -90.0 <= lat1 <= 90.0
            and -180.0 <= long1 <= 180.0
            and -90.0 <= lat2 <= 90.0
            and -180.0 <= long2 <= 180.0
        ):
            rejected["outOfRange"] += 1
            continue
        code = fields[EVENT_CODE]
        if not code.isdigit():  # CAMEO codes are ASCII digits; also rejects a blank code
            rejected["badEventCode"] += 1
            continue
        if selected_codes is None:
            code_counts[code] = code_counts.get(code, 0) + 1  # type: ignore[index,union-attr]
            continue
        code_index = selected_codes.get(code)
        if code_index is None:
            rejected["eventCodeNotSelected"] += 1
        elif lat1 == 0.0 and long1 == 0.0:
            rejected["actor1GeoMissing"] += 1
        elif lat2 == 0.0 and long2 == 0.0:
            rejected["actor2GeoMissing"] += 1
        else:
            keep_values((articles, lat1, long1, lat2, long2, tone))  # type: ignore[misc]
            keep_code(code_index)  # type: ignore[misc]
    stats.rows_read += rows_read
    stats.bytes_read += bytes_read
