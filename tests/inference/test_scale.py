"""Resolution policy: FOV diameter, choose_scale, resizing."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.inference.scale import (
    KNOWN_SCALES,
    MAX_SCALE,
    choose_scale,
    fov_diameter,
    parse_scale,
    resize_image,
    resize_map,
    scale_reference,
    scaled_size,
    training_scale_meta,
)


def disc(h: int, w: int, r: float, cy: float | None = None, cx: float | None = None) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    cy = (h - 1) / 2 if cy is None else cy
    cx = (w - 1) / 2 if cx is None else cx
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


META = {"scale": {"fov_diameter_px": 100.0, "field_angle_deg": 45.0, "calibre_factor": 1.0}}


def test_fov_diameter_full_and_cropped_disc():
    assert fov_diameter(disc(121, 141, 50)) == 101
    # disc cropped at top and bottom (common on wide sensors): the width is the diameter
    cropped = disc(201, 261, 100)[40:160]
    assert fov_diameter(cropped) == 201
    # and cropped at the sides: the height
    assert fov_diameter(disc(261, 201, 100)[:, 40:160]) == 201


def test_fov_diameter_ignores_specks_and_unknown_cases():
    m = disc(121, 141, 50)
    m[0, 0] = m[120, 140] = True  # isolated specks in a hand-made mask
    assert fov_diameter(m) == 101
    assert fov_diameter(np.ones((50, 60), bool)) is None  # touches every border
    assert fov_diameter(np.zeros((50, 60), bool)) is None


def test_choose_scale_matches_fov_diameter():
    fov = disc(301, 321, 100)  # diameter 201
    assert choose_scale(fov, META) == pytest.approx(100 / 201, abs=1e-4)
    # calibre factor multiplies the target diameter
    meta = {"scale": {**META["scale"], "calibre_factor": 1.5}}
    assert choose_scale(fov, meta) == pytest.approx(150 / 201, abs=1e-4)


def test_choose_scale_field_angle_matches_calibre():
    fov = disc(301, 321, 100)
    # a 30-degree camera shows vessels 1.5x wider than a 45-degree one at equal FOV size
    assert choose_scale(fov, META, field_angle=30) == pytest.approx(100 * 30 / 45 / 201, abs=1e-4)
    no_angle = {"scale": {"fov_diameter_px": 100.0}}
    assert choose_scale(fov, no_angle, field_angle=30) == pytest.approx(100 / 201, abs=1e-4)


def test_choose_scale_override_snap_clip_and_fallbacks():
    fov = disc(301, 321, 100)
    assert choose_scale(fov, META, 1) == 1.0
    assert choose_scale(fov, META, "0.25") == 0.25
    assert choose_scale(fov, META, "auto") == choose_scale(fov, META, None)
    near = {"scale": {"fov_diameter_px": 205.0}}  # within 5% of 201: no resampling
    assert choose_scale(fov, near) == 1.0
    huge = {"scale": {"fov_diameter_px": 1e6}}
    assert choose_scale(fov, huge) == MAX_SCALE
    assert choose_scale(fov, {}) == 1.0  # no training scale known
    assert choose_scale(np.ones((300, 320), bool), META) == 1.0  # FOV diameter unknown
    by_dataset = {"data": {"dataset": "chase"}}
    expected = KNOWN_SCALES["chase"]["fov_diameter_px"] / 301
    assert choose_scale(disc(321, 341, 150), by_dataset) == pytest.approx(expected, abs=1e-4)


def test_scale_reference_and_training_meta():
    ref = scale_reference({"data": {"dataset": "drive"}})
    assert ref.fov_diameter_px == KNOWN_SCALES["drive"]["fov_diameter_px"]
    assert ref.source == "dataset drive" and ref.calibre_factor == 1.0
    assert scale_reference(META).source == "metadata"
    meta = training_scale_meta([disc(101, 101, 40), disc(101, 101, 44)], field_angle_deg=45)
    assert meta == {"fov_diameter_px": 85.0, "calibre_factor": 1.0, "field_angle_deg": 45.0}


@pytest.mark.parametrize("bad", ["big", "0", "-1", "100", "nan"])
def test_parse_scale_rejects(bad):
    with pytest.raises(ValueError):
        parse_scale(bad)


def test_resize_image_and_map():
    rng = np.random.default_rng(0)
    img = rng.random((40, 60, 3), dtype=np.float32)
    hw = scaled_size(img.shape[:2], 0.5)
    small = resize_image(img, hw)
    assert small.shape == (20, 30, 3) and small.dtype == np.float32
    assert 0 <= small.min() and small.max() <= 1
    assert abs(small.mean() - img.mean()) < 0.01  # antialiased: the mean survives
    back = resize_map(small[..., 0], (40, 60))
    assert back.shape == (40, 60) and back.dtype == np.float32
    assert resize_image(img, (40, 60)) is img
    assert scaled_size((3, 3), 0.1) == (1, 1)
