"""check_dataset on synthetic DRIVE / CHASE_DB1 layouts and on the real data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from saunet.data.datasets import load_dataset
from saunet.data.validate import check_dataset, format_summary
from saunet.errors import DataError

H, W = 24, 20


def _save(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)


def make_drive(root, synth):
    """A DRIVE-shaped tree of tiny images (real names, 20 + 20)."""
    for sub, ids in (("training", range(21, 41)), ("test", range(1, 21))):
        d = root / "DRIVE" / sub
        for i in ids:
            _save(d / "images" / f"{i:02d}_{sub}.tif", synth.fundus(H, W, i))
            _save(
                d / "1st_manual" / f"{i:02d}_manual1.gif",
                synth.vessels(H, W, i).astype(np.uint8) * 255,
            )
            _save(
                d / "mask" / f"{i:02d}_{sub}_mask.gif",
                (synth.fundus(H, W, i)[..., 0] > 0).astype(np.uint8) * 255,
            )
            if sub == "test":
                pal = Image.fromarray(synth.vessels(H, W, i + 50).astype(np.uint8), "P")
                pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
                (d / "2nd_manual").mkdir(exist_ok=True)
                pal.save(d / "2nd_manual" / f"{i:02d}_manual2.gif")
    return root


def make_chase(root, synth, masks=False):
    d = root / "CHASEDB1"
    for i in range(1, 15):
        for e in "LR":
            n = f"Image_{i:02d}{e}"
            _save(d / f"{n}.jpg", synth.fundus(H, W, i))
            _save(d / f"{n}_1stHO.png", synth.vessels(H, W, i))
            _save(d / f"{n}_2ndHO.png", synth.vessels(H, W, i + 1))
            if masks:
                _save(d / f"{n}_mask.png", synth.fundus(H, W, i)[..., 0] > 0)
    return root


def test_synthetic_drive_summary(tmp_path, synth):
    root = make_drive(tmp_path, synth)
    summary = check_dataset("drive", root)
    tr, te = summary["splits"]["train"], summary["splits"]["test"]
    assert tr["count"] == 20 and te["count"] == 20
    assert tr["sizes"] == {(H, W): 20} and te["second_label"] == 20 and tr["second_label"] == 0
    assert 0 < tr["positive_fraction"] < 1 and 0.3 < tr["fov_coverage"] < 1
    text = format_summary(summary)
    assert "train" in text and "test" in text and f"{H}x{W}" in text
    # Second-observer palette GIFs with raw 0/1 indices read as vessels, not nothing.
    s = load_dataset("drive", root, "test")[0]
    np.testing.assert_array_equal(s["second_label"], synth.vessels(H, W, 51))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF:UserWarning")
@pytest.mark.parametrize(
    "victim,action,pattern",
    [
        (
            "DRIVE/training/1st_manual/25_manual1.gif",
            "delete",
            r"25_manual1\.gif: missing first-observer label",
        ),
        ("DRIVE/test/mask/03_test_mask.gif", "delete", r"03_test_mask\.gif: missing FOV mask"),
        ("DRIVE/test/images/07_test.tif", "delete", r"07_test\.tif: missing DRIVE image"),
        (
            "DRIVE/test/2nd_manual/02_manual2.gif",
            "delete",
            r"02_manual2\.gif: missing second-observer label",
        ),
        ("DRIVE/test/images/07_test.tif", "corrupt", r"07_test\.tif: cannot read image"),
        (
            "DRIVE/training/mask/30_training_mask.gif",
            "resize",
            r"30_training_mask\.gif: FOV mask is 20x23",
        ),
    ],
)
def test_synthetic_drive_errors(tmp_path, synth, victim, action, pattern):
    root = make_drive(tmp_path, synth)
    path = root / victim
    if action == "delete":
        path.unlink()
    elif action == "corrupt":
        path.write_bytes(path.read_bytes()[:40])
    else:
        _save(path, np.zeros((H - 1, W), np.uint8))
    with pytest.raises(DataError, match=pattern) as info:
        check_dataset("drive", root)
    assert "\n" not in str(info.value)


def test_synthetic_chase_estimates_missing_masks(tmp_path, synth):
    root = make_chase(tmp_path, synth)
    summary = check_dataset("chase", root)
    assert summary["splits"]["train"]["count"] == 20 and summary["splits"]["test"]["count"] == 8
    assert summary["splits"]["test"]["fov_estimated"] == 8
    (root / "CHASEDB1" / "Image_13R.jpg").unlink()
    with pytest.raises(DataError, match=r"Image_13R\.jpg: missing CHASE_DB1 image"):
        check_dataset("chase", root)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DataError, match="DRIVE folder not found"):
        check_dataset("drive", tmp_path)
    with pytest.raises(DataError, match="CHASE_DB1 folder not found"):
        check_dataset("chase", tmp_path)


def test_folder_summary(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 3, masks=False)
    summary = check_dataset("folder", None, folder=cfg)
    assert list(summary["splits"]) == ["all"]
    assert summary["splits"]["all"]["count"] == 3 and summary["splits"]["all"]["fov_estimated"] == 3


def test_real_drive_summary(data_root):
    s = check_dataset("drive", data_root)["splits"]
    assert s["train"]["count"] == 20 and s["test"]["count"] == 20
    assert s["test"]["sizes"] == {(584, 565): 20}
    assert 0.08 <= s["test"]["positive_fraction"] <= 0.10
    assert 0.6 < s["test"]["fov_coverage"] < 0.75
