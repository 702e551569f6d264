"""The measure picture: centrelines in the colour of their width, rings at 2, 3, 5 radii."""

from __future__ import annotations

import numpy as np
from phantoms import draw, line

from saunet.measure.image import measure_mask
from saunet.measure.picture import PALETTE, WIDTH_RANGE_PX, render_measures, width_colour


class Disc:
    x, y, radius, source = 100.0, 100.0, 10.0, "given"


def test_width_colour_ends_and_undefined():
    lo, hi = WIDTH_RANGE_PX
    assert width_colour(lo - 5, lo, hi) == tuple(PALETTE[0].astype(int))
    assert width_colour(hi + 5, lo, hi) == tuple(PALETTE[-1].astype(int))
    assert width_colour(None, lo, hi) == (160, 160, 160)


def test_picture_draws_centreline_and_rings():
    m = draw([line((40.5, 20), (40.5, 180))], 6, (200, 200))
    res = measure_mask(m, disc=Disc())
    pic = render_measures(res, m)
    assert pic.shape == (200, 200, 3) and pic.dtype == np.uint8
    colour = np.array(width_colour(res.widths[0], *WIDTH_RANGE_PX))
    # The centreline of a 6-px line about y = 40.5 lies on row 40 or 41 (skeletonize may
    # settle on either for an even width): in every column, one of them has its colour.
    near = np.abs(pic[39:43, 60:160].astype(int) - colour).sum(axis=2) < 10
    assert near.any(axis=0).all() and not near[[0, -1]].all()
    # The zone C ring (5 radii = 50 px) crosses the row of the disc centre at x = 150.
    assert (pic[100, 148:153] == (255, 220, 0)).all(axis=1).any()
    photo = np.full((200, 200, 3), 0.5, np.float32)
    assert render_measures(res, m, photo)[190, 100].tolist() == [85, 85, 85]
