"""One image's measures: drawn-area density, and invariance under rotation and flips."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import arc, draw, line, rotate, sinusoid

from saunet.measure.image import MEASUREMENT_FIELDS, SEGMENT_FIELDS, measure_mask

SHAPE = (300, 300)
COUNTS = ("segments", "branch_points", "end_points")
MEASURES = (
    "vessel_density", "skeleton_length_px", "mean_width_px", "tortuosity_distance",
    "tortuosity_density", "fractal_dimension",
)  # fmt: skip


def phantoms() -> dict[str, np.ndarray]:
    arms = [line((150, 150), (60, 150)), line((150, 150), (230, 80)), line((150, 150), (230, 220))]
    return {
        "tube": draw([line((150.5, 40), (150.5, 260))], 8, SHAPE),
        "sinusoid": draw([sinusoid(150, 30, 12, 80, 3)], 5, SHAPE),
        "y": draw(arms, 7, SHAPE, joins=[(150, 150)]),
        "arc": draw([arc((150, 150), 90, 200, 340)], 6, SHAPE),
    }


def transforms(m: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "rot90": np.rot90(m, 1), "rot180": np.rot90(m, 2), "rot270": np.rot90(m, 3),
        "flip_lr": m[:, ::-1], "flip_ud": m[::-1], "transpose": m.T,
    }  # fmt: skip


@pytest.mark.parametrize("name", ["tube", "sinusoid", "y", "arc"])
def test_rotating_or_flipping_changes_no_count_and_no_measure_by_over_2_percent(name):
    m = phantoms()[name]
    ref = measure_mask(m).row
    for how, t in transforms(m).items():
        row = measure_mask(np.ascontiguousarray(t)).row
        for k in COUNTS:
            assert row[k] == ref[k], (name, how, k)
        for k in MEASURES:
            if ref[k] == 0.0:  # tortuosity density of a single bend
                assert row[k] == pytest.approx(0.0, abs=1e-6), (name, how, k)
            else:
                assert row[k] == pytest.approx(ref[k], rel=0.02), (name, how, k)


@pytest.mark.parametrize("angle", [15.0, 30.0, 45.0, 75.0])
def test_redrawn_at_any_angle_changes_no_count(angle):
    arms = [line((150, 150), (60, 150)), line((150, 150), (230, 80)), line((150, 150), (230, 220))]
    ref = measure_mask(phantoms()["y"]).row
    turned = draw([rotate(a, angle, (150, 150)) for a in arms], 7, SHAPE, joins=[(150, 150)])
    row = measure_mask(turned).row
    assert [row[k] for k in COUNTS] == [ref[k] for k in COUNTS]
    assert row["skeleton_length_px"] == pytest.approx(ref["skeleton_length_px"], rel=0.02)
    assert row["tortuosity_distance"] == pytest.approx(ref["tortuosity_distance"], rel=0.02)


def test_density_of_a_drawn_area_within_half_a_percent():
    # FOV: a disc of radius 140; vessels: a 30 x 120 rectangle plus a tube of width 8 and
    # length 100 at 30 deg, apart from each other. Analytic areas, not pixel counts.
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    fov = np.hypot(rr - 150, cc - 150) < 140
    m = np.zeros(SHAPE, bool)
    m[60:90, 90:210] = True
    m |= draw([rotate(line((200.5, 100), (200.5, 200)), 30, (200, 150))], 8, SHAPE)
    expected = (30 * 120 + 8 * 100) / (np.pi * 140**2)
    assert measure_mask(m, fov).row["vessel_density"] == pytest.approx(expected, rel=0.005)


def test_rows_have_the_documented_columns_and_units():
    m = phantoms()["y"]
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    fov = np.hypot(rr - 150, cc - 150) < 148

    class Disc:
        x, y, radius, source = 150.0, 150.0, 20.0, "given"

    res = measure_mask(m, fov, name="y", disc=Disc(), um_per_px=10.0)
    row = res.row
    assert set(row) == set(MEASUREMENT_FIELDS)
    assert row["skeleton_length_mm"] == pytest.approx(row["skeleton_length_px"] * 0.01)
    assert row["mean_width_um"] == pytest.approx(row["mean_width_px"] * 10)
    assert row["disc_source"] == "given" and row["zone_b_density"] is not None
    assert all(set(r) == set(SEGMENT_FIELDS) for r in res.segment_rows)
    assert {r["zone"] for r in res.segment_rows} <= {"disc", "B", "C", "outer"}
    # Without a disc or a scale the dependent columns are undefined, not zero.
    bare = measure_mask(m, fov).row
    assert bare["disc_source"] == "none"
    assert bare["zone_c_mean_width_px"] is None and bare["mean_width_um"] is None


def test_empty_mask_leaves_shape_measures_undefined():
    row = measure_mask(np.zeros(SHAPE, bool)).row
    assert row["vessel_density"] == 0.0 and row["segments"] == 0
    assert row["mean_width_px"] is None and row["tortuosity_distance"] is None
    assert row["fractal_dimension"] is None
