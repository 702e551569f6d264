"""Micrometres per pixel: given, from the field angle through the FOV diameter, known sets."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.measure.units import UM_PER_DEGREE, known_field_angle, um_per_px


def disc_fov(shape=(600, 640), diameter=540):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(rr - shape[0] / 2, cc - shape[1] / 2) < diameter / 2


def test_given_scale_wins():
    assert um_per_px(disc_fov(), given=6.5, field_angle=45) == 6.5


def test_field_angle_through_the_fov_diameter():
    fov = disc_fov()
    d = 540.0
    assert um_per_px(fov, field_angle=45) == pytest.approx(45 * UM_PER_DEGREE / d, rel=0.01)


def test_undefined_without_scale_or_diameter():
    assert um_per_px(disc_fov()) is None
    assert um_per_px(np.ones((50, 50), bool), field_angle=45) is None


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("01_test", ("DRIVE", 45.0)),
        ("21_training", ("DRIVE", 45.0)),
        ("01_manual1", ("DRIVE", 45.0)),
        ("Image_11L", ("CHASE_DB1", 30.0)),
        ("Image_14R_1stHO", ("CHASE_DB1", 30.0)),
        ("fundus", None),
        ("Image_11L_copy", None),
    ],
)
def test_known_field_angles(stem, expected):
    assert known_field_angle(stem) == expected
