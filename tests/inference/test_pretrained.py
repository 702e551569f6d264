"""Python API: saunet.load_pretrained(...).segment(image), same maps as the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import saunet
from saunet.cli import main
from saunet.inference import pretrained
from saunet.inference.segmenter import DEFAULT_MARGIN, DEFAULT_TILE, SegmentationResult, Segmenter
from saunet.models.checkpoint import SHIPPED, WEIGHTS_DIR

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def ckpt(tmp_path, tiny_checkpoint):
    scale = {"fov_diameter_px": 36.0, "calibre_factor": 1.0}
    return tiny_checkpoint(tmp_path / "api.safetensors", seed=1, scale=scale)


def photo() -> np.ndarray:
    yy, xx = np.mgrid[:64, :80]
    disc = (yy - 32) ** 2 + (xx - 40) ** 2 < 29**2
    rng = np.random.default_rng(3)
    return (rng.uniform(50, 230, (64, 80, 3)) * disc[..., None]).astype(np.uint8)


def test_defaults_agree():
    assert (pretrained._TILE, pretrained._MARGIN) == (DEFAULT_TILE, DEFAULT_MARGIN)
    assert saunet.load_pretrained is pretrained.load_pretrained


def test_api_matches_cli(tmp_path, ckpt):
    seg = saunet.load_pretrained(ckpt, device="cpu", precision="fp32")
    assert isinstance(seg, Segmenter)
    res = seg.segment(photo())
    assert isinstance(res, SegmentationResult)
    assert res.prob.shape == (64, 80) and res.scale != 1.0 and res.threshold == 0.5
    Image.fromarray(photo()).save(tmp_path / "eye.png")
    rc = main(["segment", str(tmp_path / "eye.png"), "--weights", str(ckpt), "--out",
               str(tmp_path / "out"), "--precision", "fp32", "--device", "cpu"])  # fmt: skip
    assert rc == 0
    prob_png = np.asarray(Image.open(tmp_path / "out" / "eye_prob.png"))
    np.testing.assert_array_equal(prob_png, np.round(np.where(res.fov, res.prob, 0) * 65535))
    mask_png = np.asarray(Image.open(tmp_path / "out" / "eye_mask.png"))
    np.testing.assert_array_equal(mask_png > 0, res.mask)


def test_shipped_names():
    for name, stem in SHIPPED.items():
        if (WEIGHTS_DIR / f"{stem}.safetensors").is_file():
            seg = saunet.load_pretrained(name, device="cpu")
            assert 0 < seg.threshold < 1 and "fov_diameter_px" in seg.meta.get("scale", {})
        else:  # weights not added yet: a clear error naming the shipped names
            with pytest.raises(FileNotFoundError, match="drive, chase"):
                saunet.load_pretrained(name, device="cpu")
