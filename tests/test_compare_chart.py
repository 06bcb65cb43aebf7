"""comparison.png: the hand-written rasterizer and PNG writer, read back by Pillow and matplotlib."""

from __future__ import annotations

import io
import random

import chart_helpers
import pytest

from lambdas.compare import chart
from lambdas.lambda_common import vocabulary


def chart_data(training: dict[str, float], billable: dict[str, float], rows: int = 3000) -> chart.ChartData:
    draw = random.Random(7)
    samples = {branch: chart.PointSample(limit=500, per_batch=100) for branch in vocabulary.BRANCHES}
    errors: dict[str, list[float]] = {}
    for branch, noise in (("replicated", 1.0), ("sharded", 1.5)):
        values: list[float] = []
        for batch in range(rows // 500):
            labels = [draw.gauss(5, 2) for _ in range(500)]
            predictions = [label + draw.gauss(0, noise) for label in labels]
            samples[branch].add(batch, labels, predictions)
            values += [abs(p - y) for p, y in zip(predictions, labels, strict=True)]
        errors[branch] = sorted(values)
    return chart.ChartData(
        run_id="unit-1234abcd",
        verdict="ShardedByS3Key trained 3.3x faster than FullyReplicated; its test MSE is 0.1% higher (5.06 vs 5.05).",
        training_seconds=training,
        billable_instance_seconds=billable,
        instances={branch: "5 x ml.c5.2xlarge" for branch in vocabulary.BRANCHES},
        points={branch: sample.points() for branch, sample in samples.items()},
        sorted_absolute_errors=errors,
        test_rows=rows,
    )


@pytest.mark.parametrize(
    ("training", "billable"),
    [
        ({"replicated": 412, "sharded": 125}, {"replicated": 2060, "sharded": 625}),
        ({"replicated": 40, "sharded": 130}, {"replicated": 200, "sharded": 650}),  # sharded slower: bars follow
    ],
)
def test_bars_are_as_tall_as_their_numbers(training: dict[str, float], billable: dict[str, float]) -> None:
    image = chart_helpers.decoded(chart.comparison_png(chart_data(training, billable)))
    chart_helpers.assert_bars_show(image, chart.PANEL_BOXES[0], training)
    chart_helpers.assert_bars_show(image, chart.PANEL_BOXES[1], billable)


def test_matplotlib_reads_the_png_too() -> None:
    from matplotlib import image as mpimg

    png = chart.comparison_png(chart_data({"replicated": 9, "sharded": 3}, {"replicated": 45, "sharded": 15}))
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.shape == (chart.HEIGHT, chart.WIDTH, 3)
    assert 0.0 <= pixels.min() < pixels.max() == 1.0  # ink on a white background


def test_scatter_and_histogram_panels_have_both_series() -> None:
    image = chart_helpers.decoded(
        chart.comparison_png(chart_data({"replicated": 9, "sharded": 3}, {"replicated": 45, "sharded": 15}))
    )
    for box in chart.PANEL_BOXES[2:]:
        left, top, right, bottom = box
        colours = {image.getpixel((x, y)) for x in range(left, right, 2) for y in range(top, bottom, 2)}
        assert set(chart.SERIES_COLORS.values()) <= colours, box


def test_point_sample_is_bounded_in_batch_order_and_the_same_rows_for_both_models() -> None:
    batches = [(index, [float(index * 15_000 + row) for row in range(15_000)]) for index in range(20)]
    first, second = chart.PointSample(), chart.PointSample()
    for index, labels in batches:
        first.add(index, labels, labels)
    for index, labels in reversed(batches):  # batches come back in any order
        second.add(index, labels, [value + 1 for value in labels])
    points = first.points()
    assert 0 < len(points) <= 1500
    assert [actual for actual, _ in points] == sorted(actual for actual, _ in points)
    assert [actual for actual, _ in second.points()] == [actual for actual, _ in points]
    assert points[-1][0] > 280_000  # spread over the whole test set, not its first rows


def test_histogram_counts_every_row_once_the_tail_in_the_last_bin() -> None:
    errors = sorted([0.1] * 50 + [0.5] * 30 + [0.95] * 10 + [100.0])
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert chart.error_histogram(errors, edges) == [50, 0, 30, 11]
    edges = chart.histogram_edges({"replicated": errors})
    assert len(edges) == chart.HISTOGRAM_BINS + 1 and edges[-1] == pytest.approx(0.95)


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert chart.nice_ticks(0, 412 * 1.1) == [0, 100, 200, 300, 400, 500]
    ticks = chart.nice_ticks(-4.3, 13.7)
    assert ticks[0] <= -4.3 and ticks[-1] >= 13.7 and ticks[1] - ticks[0] == 5


def test_every_character_of_the_labels_has_a_glyph_of_the_font_size() -> None:
    used = (
        set("".join(vocabulary.DISTRIBUTION_TYPES.values()))
        | set("0123456789.,:;-+=()%/_'<>?!")
        | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    )
    assert used <= set(chart.FONT)
    for char, ink in chart.FONT.items():
        assert all(0 <= x < chart.GLYPH_WIDTH and 0 <= y < chart.GLYPH_HEIGHT for x, y in ink), char
        assert ink or char == " ", char
    canvas = chart.Canvas(20, 10)
    canvas.text(0, 0, "8")
    assert canvas.pixels.count(0) == 3 * len(chart.FONT["8"])  # each ink pixel black, nothing else
