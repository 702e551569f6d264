"""Zones B and C: ring geometry, densities of a drawn area, widths, undefined cases."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import draw, line

from saunet.measure.skeleton import skeleton_graph
from saunet.measure.zones import ring_mask, zone_measures, zone_of


def test_ring_area_matches_the_annulus():
    ring = ring_mask((600, 600), 300.3, 299.6, 100, 150)
    assert ring.sum() == pytest.approx(np.pi * (150**2 - 100**2), rel=0.005)


def test_radial_tube_density_and_width_per_zone():
    # A radial vessel of width 8 from the disc outwards: in a ring of radii a..b its area is
    # 8 (b - a) and its centreline (b - a), so the width is 8 in both zones.
    shape = (700, 700)
    x, y, r = 150.0, 350.0, 40.0
    m = draw([line((350.5, 150), (350.5, 650))], 8, shape)
    fov = np.ones(shape, bool)
    g = skeleton_graph(m)
    z = zone_measures(m, fov, g.segments, x, y, r)
    for name, (a, b) in {"b": (2, 3), "c": (2, 5)}.items():
        ring = ring_mask(shape, x, y, a * r, b * r)
        assert z[f"zone_{name}_density"] == pytest.approx((m & ring).sum() / ring.sum())
        assert z[f"zone_{name}_mean_width_px"] == pytest.approx(8.0, rel=0.05)


def test_zones_are_undefined_without_a_usable_disc():
    m = draw([line((50.5, 10), (50.5, 190))], 6, (100, 200))
    fov = np.zeros((100, 200), bool)
    fov[:, :100] = True
    g = skeleton_graph(m)
    outside = zone_measures(m, fov, g.segments, 150.0, 50.0, 10.0)  # centre outside the FOV
    assert set(outside.values()) == {None}
    zero = zone_measures(m, np.ones_like(fov), g.segments, 50.0, 50.0, 0.0)
    assert set(zero.values()) == {None}


def test_zone_of_a_point():
    assert [zone_of(np.array([0.0, d]), 0.0, 0.0, 10.0) for d in (5, 25, 35, 49, 50)] == [
        "disc", "B", "C", "C", "outer",
    ]  # fmt: skip
