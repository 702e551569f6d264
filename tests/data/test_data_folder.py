"""The generic folder dataset on synthetic images: pairing rule and every bad-input case."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from saunet.data.datasets import load_dataset
from saunet.errors import DataError, UserError


def test_folder_pairs_drive_style_names(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 3)
    samples = load_dataset("folder", None, "all", folder=cfg)
    assert [s["name"] for s in samples] == ["00_test", "01_test", "02_test"]
    for i, s in enumerate(samples):
        np.testing.assert_array_equal(s["label"], synth.vessels(seed=i))
        assert s["fov_source"] == "mask" and s["size"] == (48, 56)
        np.testing.assert_allclose(s["image"], synth.fundus(seed=i) / 255.0, atol=1e-7)


def test_folder_relative_to_root_and_without_masks(tmp_path, synth):
    synth.make_folder(tmp_path, 2, masks=False)
    samples = load_dataset(
        "folder", tmp_path, "test", folder={"images": "images", "labels": "labels"}
    )
    assert len(samples) == 2
    assert all(s["fov_source"] == "estimated" and s["fov"].any() for s in samples)


def test_folder_shared_directory_chase_and_stare_style(tmp_path, synth):
    d = tmp_path / "all"
    d.mkdir()
    for stem, lab_suffix in (("Image_01L", "_1stHO.png"), ("im0001", ".ah.ppm")):
        Image.fromarray(synth.fundus()).save(
            d / f"{stem}.jpg" if stem.startswith("Image") else d / f"{stem}.ppm"
        )
        Image.fromarray(synth.vessels()).save(d / f"{stem}{lab_suffix}")
    Image.fromarray(synth.vessels(seed=3)).save(d / "Image_01L_2ndHO.png")  # not an image
    Image.fromarray(synth.fundus()[..., 0] > 0).save(d / "Image_01L_mask.png")
    samples = load_dataset("folder", None, "all", folder={"images": d, "labels": d})
    assert sorted(s["name"] for s in samples) == ["Image_01L", "im0001"]


def test_folder_per_split_config(tmp_path, synth):
    tr = synth.make_folder(tmp_path / "train", 2)
    te = synth.make_folder(tmp_path / "test", 1)
    cfg = {"train": tr, "test": te}
    assert len(load_dataset("folder", None, "train", folder=cfg)) == 2
    assert len(load_dataset("folder", None, "test", folder=cfg)) == 1
    assert len(load_dataset("folder", None, "all", folder=cfg)) == 3


def test_missing_label(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 3)
    (tmp_path / "labels" / "01_manual1.gif").unlink()
    with pytest.raises(DataError, match=r"01_test\.png: no label in .*labels"):
        load_dataset("folder", None, "all", folder=cfg)


def test_missing_mask(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 2)
    (tmp_path / "masks" / "00_test_mask.png").unlink()
    with pytest.raises(DataError, match=r"00_test\.png: no FOV mask"):
        load_dataset("folder", None, "all", folder=cfg)


def test_ambiguous_label(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 1)
    shutil.copy(tmp_path / "labels" / "00_manual1.gif", tmp_path / "labels" / "00_label.png")
    with pytest.raises(DataError, match="ambiguous"):
        load_dataset("folder", None, "all", folder=cfg)


def test_corrupt_image(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 2)
    (tmp_path / "images" / "01_test.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"01_test\.png: cannot read image"):
        load_dataset("folder", None, "all", folder=cfg)


def test_corrupt_label(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 2)
    (tmp_path / "labels" / "00_manual1.gif").write_bytes(b"GIF89a broken")
    with pytest.raises(DataError, match=r"00_manual1\.gif: cannot read image"):
        load_dataset("folder", None, "all", folder=cfg)


def test_size_mismatch(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 2)
    Image.fromarray(synth.vessels(40, 56)).save(tmp_path / "labels" / "01_manual1.gif")
    with pytest.raises(
        DataError, match=r"01_manual1\.gif: label is 56x40 \(WxH\) but image 01_test\.png is 56x48"
    ):
        load_dataset("folder", None, "all", folder=cfg)
    Image.fromarray(synth.vessels()).save(tmp_path / "labels" / "01_manual1.gif")
    Image.fromarray(np.ones((48, 50), bool)).save(tmp_path / "masks" / "00_test_mask.png")
    with pytest.raises(DataError, match=r"00_test_mask\.png: FOV mask is 50x48"):
        load_dataset("folder", None, "all", folder=cfg)


def test_empty_and_missing_folders(tmp_path, synth):
    cfg = synth.make_folder(tmp_path, 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"empty: no images found"):
        load_dataset("folder", None, "all", folder={**cfg, "images": empty})
    with pytest.raises(DataError, match=r"nowhere: folder not found"):
        load_dataset("folder", None, "all", folder={**cfg, "labels": tmp_path / "nowhere"})
    with pytest.raises(UserError, match="needs an images and a labels folder"):
        load_dataset("folder", None, "all", folder={"images": cfg["images"]})
    with pytest.raises(UserError, match="--images DIR --labels DIR"):
        load_dataset("folder", None, "all", folder=None)
    with pytest.raises(UserError, match="unknown split"):
        load_dataset("folder", None, "val", folder=cfg)


@pytest.mark.parametrize("kind", ["gray", "rgba", "16bit"])
def test_folder_non_rgb_images(tmp_path, synth, kind):
    cfg = synth.make_folder(tmp_path, 1)
    path = tmp_path / "images" / "00_test.png"
    rgb = synth.fundus()
    if kind == "gray":
        Image.fromarray(rgb[..., 1], "L").save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA").save(path)
    else:
        Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(path)
    (s,) = load_dataset("folder", None, "all", folder=cfg)
    assert s["image"].shape == (48, 56, 3) and s["image"].dtype == np.float32
    expected = rgb if kind == "rgba" else np.repeat(rgb[..., 1:2], 3, axis=2)
    np.testing.assert_allclose(s["image"], expected / 255.0, atol=1e-6)
