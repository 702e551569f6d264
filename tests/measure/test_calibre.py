"""Mean width = area / centreline length on tubes of known width, per image and per segment."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import draw, line, rotate

from saunet.measure.calibre import mean_width, segment_widths
from saunet.measure.skeleton import skeleton_graph


@pytest.mark.parametrize("angle", [0.0, 10.0, 22.5, 45.0, 67.5, 90.0, 160.0])
@pytest.mark.parametrize("width", [8.0, 10.0, 12.0])
def test_straight_tube_width_within_5_percent(angle, width):
    c = rotate(line((100.5, 50), (100.5, 250)), angle, (100, 150))
    m = draw([c], width, (200, 300))
    g = skeleton_graph(m)
    assert mean_width(m.sum(), g.length) == pytest.approx(width, rel=0.05)
    (w,) = segment_widths(m, g.skeleton, g.segments)
    assert w == pytest.approx(width, rel=0.05)


def test_two_tubes_get_their_own_widths():
    m = draw([line((40.5, 20), (40.5, 220))], 4, (160, 240))
    m |= draw([line((110.5, 20), (110.5, 220))], 10, (160, 240))
    g = skeleton_graph(m)
    widths = segment_widths(m, g.skeleton, g.segments)
    assert len(g.segments) == 2
    by_row = {float(s.points[:, 0].mean()) < 75: w for s, w in zip(g.segments, widths, strict=True)}
    assert by_row[True] == pytest.approx(4, rel=0.05)
    assert by_row[False] == pytest.approx(10, rel=0.05)


def test_zero_length_is_undefined():
    assert mean_width(10, 0.0) is None
    assert segment_widths(np.zeros((5, 5), bool), np.zeros((5, 5), bool), []) == []


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0])
@pytest.mark.parametrize("width", [4.0, 6.0, 10.0])
def test_fwhm_of_a_blurred_tube_is_its_width(angle, width):
    # A tube of width w blurred by a small Gaussian: the profile falls to half its peak
    # at the tube's edges, so FWHM = w (the binary mask may be any threshold of it).
    from scipy import ndimage as ndi

    from saunet.measure.calibre import fwhm_width

    c = rotate(line((100.5, 50), (100.5, 250)), angle, (100, 150))
    sharp = draw([c], width, (200, 300))
    prob = ndi.gaussian_filter(sharp.astype(float), 0.7)
    g = skeleton_graph(prob > 0.3)
    assert fwhm_width(prob, g.segments) == pytest.approx(width, rel=0.08)
    assert fwhm_width(np.zeros((200, 300)), g.segments) is None
