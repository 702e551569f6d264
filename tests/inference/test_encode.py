"""Output files of segment: lossless probability maps, JPEG/PNG overlays, the output spec."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from saunet.errors import UserError
from saunet.inference.encode import OutputSpec, write_overlay, write_prob_map


def _prob(h: int = 37, w: int = 53) -> np.ndarray:
    p = np.random.default_rng(0).random((h, w)).astype(np.float32)
    p[0, 0], p[0, 1] = 0.0, 1.0
    return p


@pytest.mark.parametrize("fmt", ["png16", "tiff", "npy"])
def test_prob_map_round_trips_with_plain_readers(tmp_path, fmt):
    p = _prob()
    path = tmp_path / "m"
    write_prob_map(path, p, fmt)
    if fmt == "npy":
        back = np.load(path)
        np.testing.assert_array_equal(back, p)
    elif fmt == "tiff":
        with Image.open(path) as im:
            assert im.format == "TIFF" and im.mode == "F"
            np.testing.assert_array_equal(np.asarray(im), p)
    else:
        with Image.open(path) as im:
            assert im.format == "PNG"
            back = np.asarray(im).astype(np.float64) / 65535
        assert np.abs(back - p).max() <= 0.5 / 65535 + 1e-7  # half a step, float32 rounding
        assert back.min() == 0.0 and back.max() == 1.0
    assert [q.name for q in tmp_path.iterdir()] == ["m"]  # no temporary file left


def test_prob_map_distinguishes_what_8_bits_would_tie(tmp_path):
    p = np.array([[0.5000, 0.5010, 0.5020, 0.5030]], np.float32)  # one 8-bit step apart at most
    write_prob_map(tmp_path / "m.png", p)
    back = np.asarray(Image.open(tmp_path / "m.png"))
    assert len(np.unique(back)) == 4 and len(np.unique(np.round(p * 255))) < 4


def test_overlay_formats(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[5:15, 5:25] = (40, 255, 80)
    write_overlay(tmp_path / "o.jpg", rgb, "jpg")
    write_overlay(tmp_path / "o.png", rgb, "png")
    with Image.open(tmp_path / "o.jpg") as im:
        assert im.format == "JPEG" and im.size == (30, 20)
        assert np.abs(np.asarray(im).astype(int) - rgb).mean() < 12  # lossy, but the picture
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), rgb)


def test_output_spec(tmp_path):
    spec = OutputSpec.parse("mask, prob,mask", "npy", "png")
    assert spec.kinds == ("mask", "prob")
    assert spec.paths(tmp_path, "a") == {
        "mask": tmp_path / "a_mask.png",
        "prob": tmp_path / "a_prob.npy",
    }
    assert list(OutputSpec().paths(tmp_path, "b").values()) == [
        tmp_path / "b_prob.png", tmp_path / "b_mask.png", tmp_path / "b_overlay.jpg",
    ]  # fmt: skip
    for bad in ("prob,edges", "", " , "):
        with pytest.raises(UserError, match="--outputs"):
            OutputSpec.parse(bad, "png16", "jpg")
    with pytest.raises(UserError, match="--prob-format"):
        OutputSpec(prob_format="png8")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (584, 565)])
def test_grey_png_bytes_is_a_png_that_pillow_reads_back_exactly(shape, dtype):
    import io

    from saunet.inference.encode import grey_png_bytes

    top = np.iinfo(dtype).max
    rng = np.random.default_rng(shape[0])
    q = rng.integers(0, top + 1, size=shape, dtype=dtype)
    q.flat[0], q.flat[-1] = 0, top
    im = Image.open(io.BytesIO(grey_png_bytes(q)))
    assert im.size == (shape[1], shape[0])
    assert im.mode == ("L" if dtype == np.uint8 else "I;16")
    assert np.array_equal(np.asarray(im).astype(dtype), q)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        grey_png_bytes(q.astype(np.int32))


def test_write_mask_reads_back_as_the_mask(tmp_path):
    from saunet.data.io import read_mask
    from saunet.inference.encode import write_mask

    mask = np.random.default_rng(3).random((37, 53)) > 0.7
    write_mask(tmp_path / "m.png", mask)
    assert np.array_equal(read_mask(tmp_path / "m.png"), mask)
    assert set(np.unique(np.asarray(Image.open(tmp_path / "m.png")))) == {0, 255}
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        write_mask(tmp_path / "x.png", np.zeros((2, 2, 3), bool))
