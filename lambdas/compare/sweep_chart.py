"""sweep.png: a sweep's three panels, drawn with comparison.png's hand-written primitives (lambdas.compare.chart:
the Lambda asset is stdlib + boto3, so no matplotlib).

Top left: speed-up against instances for both distribution types beside the ideal linear line. Top right: test
MSE against epochs for both types. Bottom: cost against test MSE of every candidate, the Pareto frontier joined
and ringed in black, the recommended candidate ringed twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lambdas.compare.chart import (
    BLACK,
    GLYPH_WIDTH,
    GREY,
    HEIGHT,
    SERIES_COLORS,
    WIDTH,
    Canvas,
    Panel,
    _axes,
    _wrapped,
    nice_ticks,
    text_width,
)
from lambdas.lambda_common.vocabulary import BRANCHES, DISTRIBUTION_TYPES

Point = tuple[float, float]
# Panel boxes (left, top, right, bottom): two panels on top, the cost panel across the bottom.
SWEEP_PANEL_BOXES = ((80, 170, 440, 400), (580, 170, 920, 400), (80, 460, 920, 680))
MARKER_HALF = 2  # markers are 5 x 5 pixels
FRONTIER_RING = 5  # the frontier's ring: 11 x 11 pixels
RECOMMENDED_RING = 8


@dataclass(frozen=True)
class SweepChartData:
    run_id: str
    recommendation: str
    speed_up: Mapping[str, Sequence[Point]]  # per branch: (instances, speed-up)
    ideal: Sequence[Point]  # (instances, instances / smallest instances)
    speed_up_title: str
    mse_by_epochs: Mapping[str, Sequence[Point]]  # per branch: (epochs, test MSE)
    mse_title: str
    costs: Mapping[str, Sequence[Point]]  # per branch: (cost, test MSE) of every candidate
    frontier: Sequence[Point]  # (cost, test MSE), cheapest first
    recommended: Point
    cost_axis: str  # "USD" or "billable instance-seconds"
    note: str = ""


def _ticks(values: Sequence[float], *, from_zero: bool = False) -> list[float]:
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    return nice_ticks(min(low, 0.0) if from_zero else low, high)


def panels(data: SweepChartData) -> tuple[Panel, Panel, Panel]:
    """The three panels' boxes and data ranges (tests read pixels through them)."""
    speed_x = _ticks([x for series in (*data.speed_up.values(), data.ideal) for x, _ in series], from_zero=True)
    speed_y = _ticks([y for series in (*data.speed_up.values(), data.ideal) for _, y in series], from_zero=True)
    epochs_x = _ticks([x for series in data.mse_by_epochs.values() for x, _ in series])
    epochs_y = _ticks([y for series in data.mse_by_epochs.values() for _, y in series])
    cost_x = _ticks([x for series in data.costs.values() for x, _ in series], from_zero=True)
    cost_y = _ticks([y for series in data.costs.values() for _, y in series])
    return (
        Panel(*SWEEP_PANEL_BOXES[0], x_range=(speed_x[0], speed_x[-1]), y_range=(speed_y[0], speed_y[-1])),
        Panel(*SWEEP_PANEL_BOXES[1], x_range=(epochs_x[0], epochs_x[-1]), y_range=(epochs_y[0], epochs_y[-1])),
        Panel(*SWEEP_PANEL_BOXES[2], x_range=(cost_x[0], cost_x[-1]), y_range=(cost_y[0], cost_y[-1])),
    )


def _ticks_of(panel: Panel, axis: str) -> list[float]:
    low, high = panel.x_range if axis == "x" else panel.y_range
    return [tick for tick in nice_ticks(low, high) if low <= tick <= high]


def _pixel(panel: Panel, point: Point) -> tuple[int, int]:
    return round(panel.x(point[0])), round(panel.y(point[1]))


def marker(canvas: Canvas, x: int, y: int, color: tuple[int, int, int], half: int = MARKER_HALF) -> None:
    canvas.rect(x - half, y - half, x + half + 1, y + half + 1, color)


def ring(canvas: Canvas, x: int, y: int, half: int, color: tuple[int, int, int] = BLACK) -> None:
    """A one-pixel square outline ``half`` pixels from (x, y)."""
    canvas.rect(x - half, y - half, x + half + 1, y - half + 1, color)
    canvas.rect(x - half, y + half, x + half + 1, y + half + 1, color)
    canvas.rect(x - half, y - half, x - half + 1, y + half + 1, color)
    canvas.rect(x + half, y - half, x + half + 1, y + half + 1, color)


def polyline(canvas: Canvas, panel: Panel, points: Sequence[Point], color: tuple[int, int, int], *,
             markers: bool = True) -> None:
    pixels = [_pixel(panel, point) for point in points]
    for (x0, y0), (x1, y1) in itertools.pairwise(pixels):
        canvas.line(x0, y0, x1, y1, color)
    if markers:
        for x, y in pixels:
            marker(canvas, x, y, color)


def _empty(canvas: Canvas, panel: Panel, text: str) -> None:
    canvas.text((panel.left + panel.right) / 2, (panel.top + panel.bottom) / 2, text, GREY, align="center")


def _header(canvas: Canvas, data: SweepChartData) -> None:
    canvas.text(20, 14, f"shardlab sweep, run {data.run_id}", scale=2)
    # The font has no '$': amounts in the picture say USD.
    sentence = data.recommendation.replace("$", "USD ")
    for index, line in enumerate(_wrapped(sentence, (WIDTH - 40) // (GLYPH_WIDTH + 1))[:3]):
        canvas.text(20, 42 + 12 * index, line)
    x = 20
    legend = [(SERIES_COLORS[branch], DISTRIBUTION_TYPES[branch]) for branch in BRANCHES]
    legend += [(GREY, "ideal linear speed-up"), (BLACK, "Pareto frontier (ringed); recommended: double ring")]
    for color, label in legend:
        canvas.rect(x, 94, x + 12, 106, color)
        canvas.text(x + 18, 96, label)
        x += 18 + text_width(label) + 30
    if data.note:
        canvas.text(20, 116, data.note, GREY)


def render_sweep(data: SweepChartData) -> Canvas:
    canvas = Canvas(WIDTH, HEIGHT)
    _header(canvas, data)
    speed, epochs, cost = panels(data)

    _axes(canvas, speed, data.speed_up_title, _ticks_of(speed, "x"), _ticks_of(speed, "y"))
    canvas.text(speed.right, speed.bottom + 20, "instances", align="right")
    polyline(canvas, speed, data.ideal, GREY, markers=False)
    for branch in BRANCHES:
        polyline(canvas, speed, data.speed_up.get(branch, ()), SERIES_COLORS[branch])
    if not any(data.speed_up.values()):
        _empty(canvas, speed, "no training times to compare")

    swept_epochs = sorted({x for series in data.mse_by_epochs.values() for x, _ in series})  # ticks: the grid's
    _axes(canvas, epochs, data.mse_title, swept_epochs or _ticks_of(epochs, "x"), _ticks_of(epochs, "y"))
    canvas.text(epochs.right, epochs.bottom + 20, "epochs", align="right")
    for branch in BRANCHES:
        polyline(canvas, epochs, data.mse_by_epochs.get(branch, ()), SERIES_COLORS[branch])
    if not any(data.mse_by_epochs.values()):
        _empty(canvas, epochs, "no epochs at this instance count")

    _axes(canvas, cost, f"Test MSE against cost ({data.cost_axis}) of every point and type", _ticks_of(cost, "x"),
          _ticks_of(cost, "y"))
    canvas.text(cost.right, cost.bottom + 20, data.cost_axis, align="right")
    polyline(canvas, cost, data.frontier, BLACK, markers=False)
    for branch in BRANCHES:
        for point in data.costs.get(branch, ()):
            marker(canvas, *_pixel(cost, point), SERIES_COLORS[branch])
    for point in data.frontier:
        ring(canvas, *_pixel(cost, point), FRONTIER_RING)
    x, y = _pixel(cost, data.recommended)
    ring(canvas, x, y, RECOMMENDED_RING)
    ring(canvas, x, y, RECOMMENDED_RING + 2)
    canvas.text(x + RECOMMENDED_RING + 6, y - RECOMMENDED_RING - 10, "recommended")
    return canvas


def sweep_png(data: SweepChartData) -> bytes:
    return render_sweep(data).png()
