"""FOV estimation against the masks shipped with DRIVE and CHASE_DB1 (IoU >= 0.95 each)."""

from __future__ import annotations

import numpy as np

from saunet.data.fov import estimate_fov


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_fov_iou_drive_and_chase(drive_train, drive_test, chase_all):
    ious = {}
    for s in drive_train + drive_test + chase_all:
        est = estimate_fov(s["image"])
        assert est.dtype == bool and est.shape == s["fov"].shape
        ious[s["name"]] = _iou(est, s["fov"])
    assert len(ious) == 68
    worst = min(ious, key=ious.get)
    assert ious[worst] >= 0.95, f"{worst}: IoU {ious[worst]:.4f}"


def test_fov_synthetic_disc(synth):
    img = synth.fundus(120, 140).astype(np.float32) / 255.0
    truth = img.max(axis=2) > 0
    img[5:8, 5:30] = 1.0  # a bright caption outside the disc is not FOV
    assert _iou(estimate_fov(img), truth) > 0.97


def test_fov_without_border_is_everything():
    img = np.full((30, 40, 3), 0.5, np.float32)
    assert estimate_fov(img).all()


def test_fill_holes_matches_scipy():
    from scipy import ndimage as ndi

    from saunet.data.fov import fill_holes

    rng = np.random.default_rng(0)
    for _ in range(20):
        m = ndi.binary_opening(rng.random((40, 50)) < 0.6)
        assert np.array_equal(fill_holes(m), ndi.binary_fill_holes(m))
    assert fill_holes(np.zeros((5, 5), bool)).sum() == 0
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False
    assert fill_holes(ring).sum() == 25
