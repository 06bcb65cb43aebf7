"""Reads comparison.png back with Pillow (a decoder other than the writer under test)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from lambdas.compare import chart
from lambdas.lambda_common import vocabulary


def decoded(png: bytes) -> Any:
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every row: a bad IDAT or CRC fails here
    assert (image.format, image.size, image.mode) == ("PNG", (chart.WIDTH, chart.HEIGHT), "RGB")
    return image


def bar_heights(image: Any, box: tuple[int, int, int, int]) -> dict[str, int]:
    """Pixels of series colour in each bar's centre column of a bar panel."""
    left, top, right, bottom = box
    slot = (right - left) / len(vocabulary.BRANCHES)
    heights = {}
    for index, branch in enumerate(vocabulary.BRANCHES):
        x = round(left + slot * (index + 0.5))
        heights[branch] = sum(image.getpixel((x, y)) == chart.SERIES_COLORS[branch] for y in range(top, bottom + 1))
    return heights


def assert_bars_show(image: Any, box: tuple[int, int, int, int], values: dict[str, float]) -> None:
    """The larger value has the taller bar, in proportion (within 5%)."""
    heights = bar_heights(image, box)
    taller = max(values, key=values.__getitem__)
    shorter = min(values, key=values.__getitem__)
    assert heights[taller] > heights[shorter] > 0, heights
    assert heights[taller] / heights[shorter] == pytest.approx(values[taller] / values[shorter], rel=0.05)
