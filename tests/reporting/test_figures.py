"""Figure helpers of saunet.reporting.figures: titles that fit the figure."""

from __future__ import annotations

import pytest

from saunet.reporting.figures import _pyplot, suptitle

LONG = ("DRIVE 01_test, recipe paper, threshold 0.5; bottom: 94x94 zoom at x=337, y=229 "
        "(white found, orange false, blue missed vessel)")  # fmt: skip


@pytest.mark.parametrize("width_in", [3.0, 6.4, 9.6])
def test_long_title_is_wrapped_inside_the_figure(width_in):
    plt = _pyplot()
    fig = plt.figure(figsize=(width_in, 3))
    try:
        renderer = fig.canvas.get_renderer()
        title = suptitle(fig, LONG)
        box, page = title.get_window_extent(renderer), fig.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1  # not cut at either side
        assert title.get_text().count("\n") >= 1
        assert title.get_text().split() == LONG.split()  # wrapped at spaces, nothing lost
        # unwrapped, the same title overflows: the wrapping is what keeps it inside
        fig.suptitle(LONG)
        assert fig._suptitle.get_window_extent(renderer).width > page.width
    finally:
        plt.close(fig)


def test_short_title_and_explicit_lines_are_kept():
    plt = _pyplot()
    fig = plt.figure(figsize=(9.6, 3))
    try:
        assert suptitle(fig, "DRIVE 01_test").get_text() == "DRIVE 01_test"
        assert suptitle(fig, "first line\nsecond").get_text() == "first line\nsecond"
    finally:
        plt.close(fig)
