"""comparison.png: the run's comparison as one picture, drawn and PNG-encoded in plain Python.

Hand-written because the compare Lambda is stdlib + boto3 only: the stack ships ``lambdas/`` as is (no
bundling, no Docker), so matplotlib/numpy/Pillow cannot be in the function. What a chart needs is small:
filled rectangles, lines, points, a 5x8 bitmap font, and a PNG writer (``zlib`` + ``struct``: one IHDR,
one IDAT of filter-0 RGB rows, IEND).

Four panels: training time and billable instance-seconds per branch (bars), predicted vs actual
on the test year (a bounded, evenly spaced sample of the rows, the same rows for both models), and the
distribution of absolute errors over every test row (a histogram from the sorted errors).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lambdas.compare.metrics import OrderedValues, ordered
from lambdas.lambda_common.vocabulary import DISTRIBUTION_TYPES, REPLICATED, SHARDED

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GREY: Color = (150, 150, 150)
LIGHT_GREY: Color = (225, 225, 225)
# matplotlib's first two default colours, as the notebooks plot the two branches.
SERIES_COLORS: dict[str, Color] = {REPLICATED: (31, 119, 180), SHARDED: (255, 127, 14)}
WIDTH, HEIGHT = 960, 720
HISTOGRAM_BINS = 30
HISTOGRAM_QUANTILE = 0.99  # the last bin also counts the errors above this quantile

# 5 columns x 8 rows per glyph ('#' = ink), rows separated by spaces; capitals and digits use rows 0-6,
# row 7 holds descenders. A character without a glyph is drawn as '?'.
_GLYPHS = {
    " ": "",
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "a": "..... ..... .###. ....# .#### #...# .####",
    "b": "#.... #.... #.##. ##..# #...# #...# ####.",
    "c": "..... ..... .###. #.... #.... #...# .###.",
    "d": "....# ....# .##.# #..## #...# #...# .####",
    "e": "..... ..... .###. #...# ##### #.... .###.",
    "f": "..##. .#..# .#... ###.. .#... .#... .#...",
    "g": "..... ..... .#### #...# #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...#",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    "j": "...#. ..... ..##. ...#. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "m": "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",
    "n": "..... ..... #.##. ##..# #...# #...# #...#",
    "o": "..... ..... .###. #...# #...# #...# .###.",
    "p": "..... ..... ####. #...# #...# ####. #.... #....",
    "q": "..... ..... .#### #...# #...# .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #....",
    "s": "..... ..... .###. #.... .###. ....# ####.",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
    "u": "..... ..... #...# #...# #...# #..## .##.#",
    "v": "..... ..... #...# #...# #...# .#.#. ..#..",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    "y": "..... ..... #...# #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##..",
    ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
    "-": "..... ..... ..... ##### ",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#..",
    "=": "..... ..... ##### ..... #####",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "[": ".###. .#... .#... .#... .#... .#... .###.",
    "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "/": "..... ....# ...#. ..#.. .#... #....",
    "_": "..... ..... ..... ..... ..... ..... ..... #####",
    "'": "..#.. ..#.. .#...",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "*": "..... #.#.# .###. ##### .###. #.#.#",
    "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
}
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 8


def _ink(pattern: str) -> tuple[tuple[int, int], ...]:
    return tuple((x, y) for y, row in enumerate(pattern.split()) for x, cell in enumerate(row) if cell == "#")


FONT = {char: _ink(pattern) for char, pattern in _GLYPHS.items()}


class Canvas:
    """An RGB raster; coordinates are pixels from the top left, everything is clipped to the canvas."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        """Fills [x0, x1) x [y0, y1)."""
        left, right = max(0, round(x0)), min(self.width, round(x1))
        top, bottom = max(0, round(y0)), min(self.height, round(y1))
        if left >= right or top >= bottom:
            return
        row = bytes(color) * (right - left)
        for y in range(top, bottom):
            start = (y * self.width + left) * 3
            self.pixels[start : start + len(row)] = row

    def squares(self, xs: Sequence[int], ys: Sequence[int], color: Color) -> None:
        """A 3 x 3 square centred on each (x, y): ``rect(x - 1, y - 1, x + 2, y + 2)`` for each, without its
        per-call work (a scatter plot has thousands)."""
        width, height, pixels = self.width, self.height, self.pixels
        full = bytes(color) * 3
        for x, y in zip(xs, ys, strict=True):
            left, right = max(0, x - 1), min(width, x + 2)
            if left >= right:
                continue
            row = full if right - left == 3 else full[: 3 * (right - left)]
            for line in range(max(0, y - 1), min(height, y + 2)):
                start = (line * width + left) * 3
                pixels[start : start + len(row)] = row

    def pixel(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            start = (y * self.width + x) * 3
            self.pixels[start : start + 3] = bytes(color)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        steps = max(abs(round(x1) - round(x0)), abs(round(y1) - round(y0)), 1)
        for i in range(steps + 1):
            self.pixel(round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps), color)

    def text(self, x: float, y: float, text: str, color: Color = BLACK, *, scale: int = 1, align: str = "left") -> None:
        """Draws ``text`` with its top at ``y``; ``align`` says whether ``x`` is its left, center or right."""
        width = text_width(text, scale)
        left = round(x - {"left": 0, "center": width / 2, "right": width}[align])
        for index, char in enumerate(text):
            origin = left + index * (GLYPH_WIDTH + 1) * scale
            for dx, dy in FONT.get(char, FONT["?"]):
                px, py = origin + dx * scale, round(y) + dy * scale
                if scale == 1:
                    self.pixel(px, py, color)
                else:
                    self.rect(px, py, px + scale, py + scale, color)

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(b"\x00" + self.pixels[y * stride : (y + 1) * stride] for y in range(self.height))
        return encode_png(self.width, self.height, raw)


def text_width(text: str, scale: int = 1) -> int:
    return max(len(text) * (GLYPH_WIDTH + 1) - 1, 0) * scale


def encode_png(width: int, height: int, filtered_rows: bytes) -> bytes:
    """PNG of 8-bit RGB rows, each already prefixed with its filter byte."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(filtered_rows, 6))
        + chunk(b"IEND", b"")
    )


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def format_tick(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


@dataclass(frozen=True)
class Panel:
    """A plot area: pixel box of the axes and the data ranges they show."""

    left: int
    top: int
    right: int
    bottom: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / (high - low) * (self.right - self.left)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)


def _axes(canvas: Canvas, panel: Panel, title: str, x_ticks: Sequence[float], y_ticks: Sequence[float]) -> None:
    canvas.text(panel.left, panel.top - 22, title, scale=1)
    for tick in y_ticks:
        y = panel.y(tick)
        canvas.rect(panel.left, y, panel.right, y + 1, LIGHT_GREY)
        canvas.text(panel.left - 6, y - 3, format_tick(tick), align="right")
    for tick in x_ticks:
        x = panel.x(tick)
        canvas.rect(x, panel.bottom, x + 1, panel.bottom + 4, BLACK)
        canvas.text(x, panel.bottom + 7, format_tick(tick), align="center")
    canvas.rect(panel.left, panel.top, panel.left + 1, panel.bottom + 1, BLACK)
    canvas.rect(panel.left, panel.bottom, panel.right + 1, panel.bottom + 1, BLACK)


def _bars(canvas: Canvas, box: tuple[int, int, int, int], title: str, values: dict[str, float], unit: str) -> Panel:
    ticks = nice_ticks(0.0, max(*values.values(), 1e-9) * 1.1)
    panel = Panel(*box, x_range=(0.0, float(len(values))), y_range=(0.0, ticks[-1]))
    _axes(canvas, panel, title, (), ticks)
    slot = (panel.right - panel.left) / len(values)
    for index, (branch, value) in enumerate(values.items()):
        center = panel.left + slot * (index + 0.5)
        half = slot * 0.3
        canvas.rect(center - half, panel.y(value), center + half, panel.bottom, SERIES_COLORS[branch])
        canvas.text(center, panel.y(value) - 12, f"{format_tick(value)} {unit}", align="center")
        canvas.text(center, panel.bottom + 7, DISTRIBUTION_TYPES[branch], align="center")
    return panel


def _scatter(
    canvas: Canvas, box: tuple[int, int, int, int], points: Mapping[str, Sequence[tuple[float, float]]], rows: int
) -> Panel:
    values = [v for series in points.values() for point in series for v in point]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    ticks = nice_ticks(low, high)
    limits = (ticks[0], ticks[-1])
    panel = Panel(*box, x_range=limits, y_range=limits)
    shown = max((len(series) for series in points.values()), default=0)
    _axes(canvas, panel, f"Predicted (y) vs actual (x) AvgTone, {shown:,} of {rows:,} rows", ticks, ticks)
    canvas.line(panel.x(limits[0]), panel.y(limits[0]), panel.x(limits[1]), panel.y(limits[1]), GREY)
    for branch, series in points.items():
        canvas.squares(
            [round(panel.x(actual)) for actual, _ in series],
            [round(panel.y(predicted)) for _, predicted in series],
            SERIES_COLORS[branch],
        )
    return panel


def error_histogram(sorted_errors: OrderedValues | Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin also counts everything above it."""
    errors = ordered(sorted_errors)
    positions = [errors.count_below(edge) for edge in edges[:-1]] + [len(errors)]
    return [positions[i + 1] - positions[i] for i in range(len(edges) - 1)]


def histogram_edges(errors: Mapping[str, OrderedValues | Sequence[float]], bins: int = HISTOGRAM_BINS) -> list[float]:
    tops = [ordered(e).kth(int(HISTOGRAM_QUANTILE * (len(e) - 1))) for e in errors.values() if len(e)]
    top = max(tops, default=1.0) or 1.0
    return [top * i / bins for i in range(bins + 1)]


def _histogram(
    canvas: Canvas, box: tuple[int, int, int, int], errors: Mapping[str, OrderedValues | Sequence[float]]
) -> Panel:
    edges = histogram_edges(errors)
    counts = {branch: error_histogram(values, edges) for branch, values in errors.items()}
    rows = max((len(values) for values in errors.values()), default=0)
    y_ticks = nice_ticks(0.0, max((max(c) for c in counts.values() if c), default=1) * 1.05)
    x_ticks = [t for t in nice_ticks(0.0, edges[-1]) if t <= edges[-1]]
    panel = Panel(*box, x_range=(0.0, edges[-1]), y_range=(0.0, y_ticks[-1]))
    _axes(canvas, panel, f"Absolute error, all {rows:,} test rows (rows per bin)", x_ticks, y_ticks)
    width = (panel.right - panel.left) / (len(edges) - 1)
    for series, (branch, bins) in enumerate(counts.items()):
        for index, count in enumerate(bins):
            x = panel.left + width * (index + series / 2)
            canvas.rect(x + 1, panel.y(count), x + width / 2, panel.bottom, SERIES_COLORS[branch])
    canvas.text(panel.right, panel.bottom + 20, f"last bin: >= {edges[-2]:.3g}", GREY, align="right")
    return panel


@dataclass(frozen=True)
class ChartData:
    run_id: str
    verdict: str
    training_seconds: dict[str, float]
    billable_instance_seconds: dict[str, float]
    instances: dict[str, str]  # e.g. "5 x ml.c5.2xlarge"
    points: Mapping[str, Sequence[tuple[float, float]]]  # (actual, predicted), same rows for every branch
    sorted_absolute_errors: Mapping[str, OrderedValues | Sequence[float]]  # sorted, or sorted runs
    test_rows: int
    cost_lines: Sequence[str] = ()  # lambdas.compare.cost.cost_chart_lines: each job's dollars and the run's total


def _wrapped(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# Panel boxes (left, top, right, bottom) of the 2 x 2 grid.
PANEL_BOXES = ((80, 150, 440, 390), (580, 150, 920, 390), (80, 450, 440, 680), (580, 450, 920, 680))


def render(data: ChartData) -> Canvas:
    canvas = Canvas(WIDTH, HEIGHT)
    canvas.text(20, 14, f"shardlab comparison, run {data.run_id}", scale=2)
    for line_index, line in enumerate(_wrapped(data.verdict, (WIDTH - 40) // (GLYPH_WIDTH + 1))[:2]):
        canvas.text(20, 42 + 12 * line_index, line)
    legend_x = 20
    for branch, label in DISTRIBUTION_TYPES.items():
        canvas.rect(legend_x, 90, legend_x + 12, 102, SERIES_COLORS[branch])
        text = f"{label} ({data.instances.get(branch, '')})"
        canvas.text(legend_x + 18, 92, text)
        legend_x += 18 + text_width(text) + 30
    for line_index, line in enumerate(data.cost_lines[:1]):
        canvas.text(20, 110 + 12 * line_index, line)
    _bars(canvas, PANEL_BOXES[0], "Training time (TrainingTimeInSeconds)", data.training_seconds, "s")
    billable_title = "Billable instance-seconds (billable s x instances)"
    _bars(canvas, PANEL_BOXES[1], billable_title, data.billable_instance_seconds, "")
    _scatter(canvas, PANEL_BOXES[2], data.points, data.test_rows)
    _histogram(canvas, PANEL_BOXES[3], data.sorted_absolute_errors)
    return canvas


def comparison_png(data: ChartData) -> bytes:
    return render(data).png()


class PointSample:
    """An evenly spaced sample of (actual, predicted) per scored batch, at most ``limit`` points in all.

    Batches arrive in any order and from several threads; each keeps every ``stride``-th row, and ``points``
    thins the concatenation (in batch order) to ``limit``, so both models show the same test rows.
    """

    def __init__(self, limit: int = 1500, per_batch: int = 1500) -> None:
        self.limit, self.per_batch = limit, per_batch
        self._batches: dict[int, tuple[Sequence[float], Sequence[float]]] = {}

    def add(self, batch_index: int, labels: Sequence[float], predictions: Sequence[float]) -> None:
        stride = max(1, math.ceil(len(labels) / self.per_batch))
        self._batches[batch_index] = (labels[::stride], predictions[::stride])  # one dict store: thread-safe

    def points(self) -> list[tuple[float, float]]:
        """Every ``stride``-th pair of the batches' samples in batch order (slicing each batch, not the whole)."""
        batches = [self._batches[index] for index in sorted(self._batches)]
        stride = max(1, math.ceil(sum(len(labels) for labels, _ in batches) / self.limit))
        points: list[tuple[float, float]] = []
        offset = 0  # where the next batch starts in the concatenation, mod stride: its first pair taken
        for labels, predictions in batches:
            first = -offset % stride
            points += zip(labels[first::stride], predictions[first::stride], strict=True)
            offset += len(labels)
        return points
