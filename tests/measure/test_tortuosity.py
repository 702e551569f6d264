"""Tortuosity on phantoms: sinusoids against the arc-length integral, circle arcs."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import arc, draw, line, rotate, sinusoid, sinusoid_arc

from saunet.measure.skeleton import skeleton_graph
from saunet.measure.tortuosity import (
    arc_chord,
    inflections,
    segment_tortuosity_density,
    weighted_mean,
)


def only_segment(mask):
    g = skeleton_graph(mask)
    assert len(g.segments) == 1
    return g.segments[0]


@pytest.mark.parametrize("angle", [0.0, 17.0, 45.0, 60.0])
@pytest.mark.parametrize(("amplitude", "period"), [(10.0, 80.0), (5.0, 60.0), (15.0, 100.0)])
def test_sinusoid_arc_over_chord_matches_the_integral(angle, amplitude, period):
    c = rotate(sinusoid(120, 30, amplitude, period, 3), angle, (120, 170))
    seg = only_segment(draw([c], 4, (260, 360)))
    expected = sinusoid_arc(amplitude, period, 3) / (3 * period)
    assert arc_chord(seg.points) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize(("amplitude", "period"), [(10.0, 80.0), (15.0, 100.0)])
def test_sinusoid_tortuosity_density_matches_grisan(amplitude, period):
    # Three periods have five interior inflections, so six half-period turns of arc I and
    # chord P/2: TD = (n - 1)/n * n (2 I / P - 1) / (n I), n = 6.
    seg = only_segment(draw([sinusoid(120, 30, amplitude, period, 3)], 4, (260, 360)))
    assert len(inflections(seg.points)) == 5
    half = sinusoid_arc(amplitude, period, 0.5)
    n = 6
    expected = (n - 1) / n * n * (2 * half / period - 1) / (n * half)
    assert segment_tortuosity_density(seg.points) == pytest.approx(expected, rel=0.10)


@pytest.mark.parametrize(("radius", "span"), [(50.0, 120.0), (80.0, 140.0), (120.0, 90.0)])
def test_circle_arc_of_known_curvature(radius, span):
    # Arc/chord of an arc of angle t is (t/2) / sin(t/2); a single bend has no inflection,
    # so Grisan's density is 0.
    a = arc((150, 150), radius, 270 - span / 2, 270 + span / 2)
    seg = only_segment(draw([a], 6, (300, 300)))
    t = np.deg2rad(span)
    assert arc_chord(seg.points) == pytest.approx((t / 2) / np.sin(t / 2), rel=0.03)
    assert seg.length == pytest.approx(radius * t, rel=0.03)
    assert segment_tortuosity_density(seg.points) == 0.0


@pytest.mark.parametrize("angle", [0.0, 22.5, 45.0, 100.0])
def test_straight_tube_is_not_tortuous(angle):
    c = rotate(line((100.5, 50), (100.5, 250)), angle, (100, 150))
    seg = only_segment(draw([c], 8, (200, 300)))
    assert arc_chord(seg.points) == pytest.approx(1.0, abs=0.01)
    assert segment_tortuosity_density(seg.points) == pytest.approx(0.0, abs=1e-4)


def test_weighted_mean_skips_undefined_values():
    assert weighted_mean([1.0, None, 2.0], [1.0, 5.0, 3.0]) == pytest.approx(7 / 4)
    assert weighted_mean([None], [1.0]) is None
    assert weighted_mean([], []) is None
    assert arc_chord(np.zeros((3, 2))) is None


def test_a_path_back_to_its_start_has_no_arc_over_chord():
    # Both ends at one branch point: the chord is under 1 px, arc/chord would explode.
    assert arc_chord(np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 0.5]])) is None
