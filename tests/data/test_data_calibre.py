"""Common vessel calibre across cameras (saunet.data.calibre)."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.data.calibre import (
    CAMERAS,
    calibre_scale_meta,
    px_per_degree,
    resize_sample,
    to_calibre,
)
from saunet.errors import UserError
from saunet.inference.scale import choose_scale


def _disc(h: int, w: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - h / 2 + 0.5) ** 2 + (xx - w / 2 + 0.5) ** 2 <= r * r


def _sample(h: int, w: int, r: float, vessel: int = 4) -> dict:
    fov = _disc(h, w, r)
    label = np.zeros((h, w), bool)
    label[:, w // 2 - vessel // 2 : w // 2 - vessel // 2 + vessel] = True  # a vertical vessel
    label &= fov
    image = np.where(label[..., None], 0.2, 0.6).astype(np.float32).repeat(3, axis=-1)
    return {"name": f"s{h}", "image": image, "label": label, "fov": fov, "size": (h, w)}


def test_px_per_degree_is_fov_diameter_over_field_angle():
    fov = _disc(120, 130, 50)
    assert px_per_degree(fov, 45.0) == pytest.approx(100 / 45)
    assert px_per_degree(np.ones((20, 20), bool), 45.0) is None  # fills the image


def test_resize_sample_keeps_masks_binary_and_vessel_width_in_proportion():
    s = _sample(100, 100, 45, vessel=4)
    big = resize_sample(s, 2.0)
    assert big["image"].shape == (200, 200, 3) and big["size"] == (200, 200)
    for key in ("label", "fov"):
        assert big[key].dtype == bool and big[key].shape == (200, 200)
    assert big["label"][100].sum() == 8  # 4 px wide -> 8 px wide
    assert 0.0 <= big["image"].min() and big["image"].max() <= 1.0
    assert resize_sample(s, 1.0)["image"] is s["image"]  # nothing to do


def test_to_calibre_brings_two_cameras_to_one_calibre():
    drive_like = _sample(110, 120, 50)  # FOV 100 px at 45 deg: 2.22 px/deg
    chase_like = _sample(200, 210, 90)  # FOV 180 px at 30 deg: 6 px/deg
    a = to_calibre([drive_like], "drive", 4.0)[0]
    b = to_calibre([chase_like], "chase", 4.0)[0]
    assert px_per_degree(a["fov"], CAMERAS["drive"]["field_angle_deg"]) == pytest.approx(
        4.0, rel=0.02
    )
    assert px_per_degree(b["fov"], CAMERAS["chase"]["field_angle_deg"]) == pytest.approx(
        4.0, rel=0.02
    )


def test_to_calibre_refuses_what_it_cannot_measure():
    with pytest.raises(UserError, match="field_angle_deg"):
        to_calibre([_sample(50, 50, 20)], "folder", 4.0)
    full = {**_sample(50, 50, 20), "fov": np.ones((50, 50), bool)}
    with pytest.raises(UserError, match="fills the image"):
        to_calibre([full], "folder", 4.0, field_angle_deg=45.0)


def test_scale_meta_makes_the_policy_bring_photographs_to_the_training_calibre():
    meta = {"scale": calibre_scale_meta(20.0), "data": {"dataset": "drive+chase"}}
    drive_fov = _disc(584, 565, 270)  # DRIVE-size FOV, 540 px
    assert choose_scale(drive_fov, meta) == pytest.approx(900 / 540, abs=1e-3)
    # With the camera's field angle, the policy matches px per degree: 30 deg -> 600 px.
    assert choose_scale(drive_fov, meta, field_angle=30.0) == pytest.approx(600 / 540, abs=1e-3)
