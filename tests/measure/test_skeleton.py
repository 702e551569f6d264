"""Skeleton graph on phantoms with known answers: lengths, end points, branch points."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import draw, line, rotate

from saunet.measure.skeleton import path_length, skeleton_graph, smooth_path

ANGLES = (0.0, 10.0, 22.5, 30.0, 45.0, 67.5, 90.0, 135.0, 200.0)


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("width", [4, 8, 10])
def test_straight_tube_length_and_counts(angle, width):
    # A flat-ended tube of length 200 px: the end extension must restore the half width
    # that thinning eats at each end.
    c = rotate(line((100.5, 50), (100.5, 250)), angle, (100, 150))
    g = skeleton_graph(draw([c], width, (200, 300)))
    assert len(g.segments) == 1
    assert len(g.end_points) == 2
    assert len(g.branch_points) == 0
    assert g.length == pytest.approx(200.0, rel=0.03)


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 135.0, 250.0])
def test_y_junction_has_three_segments_one_branch_three_ends(angle):
    arms = [line((100, 100), (40, 100)), line((100, 100), (150, 50)), line((100, 100), (150, 150))]
    m = draw([rotate(a, angle, (100, 100)) for a in arms], 7, (200, 200), joins=[(100, 100)])
    g = skeleton_graph(m)
    assert (len(g.segments), len(g.branch_points), len(g.end_points)) == (3, 1, 3)
    # Every arm keeps its length (60, 70.7, 70.7 px from the fork) within 3%.
    assert sorted(s.length for s in g.segments) == pytest.approx([60, 70.71, 70.71], rel=0.03)


def test_spurs_shorter_than_min_length_are_pruned():
    m = draw([line((50.5, 20), (50.5, 180))], 8, (100, 200))
    m[40:50, 100] = True  # a 2-px bump on the wall gives a short side branch when thinned
    m[40:50, 101] = True
    g = skeleton_graph(m, min_length=12)
    assert (len(g.segments), len(g.branch_points), len(g.end_points)) == (1, 0, 2)
    kept = skeleton_graph(m, min_length=1)
    assert len(kept.segments) == 3 and len(kept.branch_points) == 1


def test_empty_mask_has_no_skeleton():
    g = skeleton_graph(np.zeros((30, 40), bool))
    assert g.segments == [] and g.length == 0.0
    assert g.branch_points.shape == (0, 2) and g.end_points.shape == (0, 2)


def test_ring_is_one_loop_without_ends():
    rr, cc = np.mgrid[0:120, 0:120]
    d = np.hypot(rr - 60, cc - 60)
    g = skeleton_graph((d >= 36) & (d <= 44))
    assert len(g.segments) == 1 and g.segments[0].ends == ("loop", "loop")
    assert len(g.end_points) == 0 and len(g.branch_points) == 0
    assert g.length == pytest.approx(2 * np.pi * 40, rel=0.03)


def test_smoothing_keeps_straight_lines_and_ends():
    p = np.stack([np.arange(20.0), 0.5 * np.arange(20.0)], axis=1)
    s = smooth_path(p)
    assert np.allclose(s, p)
    assert path_length(p) == pytest.approx(19 * np.hypot(1, 0.5))
