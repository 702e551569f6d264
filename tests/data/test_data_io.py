"""saunet.data.io: explicit conversions of every input kind, and atomic PNG writing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from saunet.data.io import image_size, read_image, read_mask, write_png
from saunet.errors import DataError


def test_rgb_8bit(tmp_path, synth):
    img = synth.fundus()
    Image.fromarray(img).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.float32 and out.shape == (48, 56, 3)
    np.testing.assert_allclose(out, img / 255.0, atol=1e-7)


def test_grayscale_replicated(tmp_path):
    g = np.arange(48 * 56, dtype=np.uint32).reshape(48, 56) % 256
    Image.fromarray(g.astype(np.uint8), "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (48, 56, 3)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], g / 255.0, atol=1e-7)


def test_rgba_composited_on_black(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # fully transparent -> black
    rgba[1, 1, 3] = 51  # 20% -> 200 * 0.2
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (4, 5, 3)
    assert np.all(out[0, 0] == 0)
    np.testing.assert_allclose(out[1, 1], 200 / 255 * 51 / 255, atol=1e-6)
    np.testing.assert_allclose(out[2, 2], 200 / 255, atol=1e-6)


def test_16bit_scaled(tmp_path):
    a = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    out = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(out[..., 1], a / 65535.0, atol=1e-6)
    assert out.max() <= 1.0


def test_palette_image_to_rgb(tmp_path, synth):
    Image.fromarray(synth.fundus()).quantize(16).save(tmp_path / "p.gif")
    out = read_image(tmp_path / "p.gif")
    assert out.shape == (48, 56, 3) and 0 <= out.min() and out.max() <= 1


def test_mask_palette_gif_with_01_indices(tmp_path):
    """DRIVE 2nd_manual trap: raw indices 0/1, index 1 is white."""
    idx = np.zeros((6, 7), np.uint8)
    idx[2:4, 1:5] = 1
    im = Image.fromarray(idx, "P")
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * (256 * 3 - 6))
    im.save(tmp_path / "m.gif")
    assert Image.open(tmp_path / "m.gif").mode == "P"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.gif"), idx == 1)


def test_mask_1bit_png(tmp_path):
    m = np.zeros((6, 7), bool)
    m[1:3, 2:6] = True
    Image.fromarray(m).save(tmp_path / "m.png")
    assert Image.open(tmp_path / "m.png").mode == "1"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), m)


def test_mask_0_255_gif(tmp_path):
    m = np.zeros((6, 7), np.uint8)
    m[3:, :4] = 255
    Image.fromarray(m, "L").save(tmp_path / "m.gif")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.gif"), m == 255)


@pytest.mark.parametrize("fn", [read_image, read_mask, image_size])
def test_missing_and_corrupt_files_name_the_file(tmp_path, fn):
    with pytest.raises(DataError, match="nope.png: file not found"):
        fn(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="bad.png: cannot read image"):
        fn(bad)


def test_truncated_file(tmp_path, synth):
    Image.fromarray(synth.fundus(64, 64)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.png"):
        read_image(tmp_path / "t.png")


def test_write_png_roundtrip_and_atomic(tmp_path):
    m = np.zeros((5, 6), bool)
    m[1, 2] = True
    write_png(tmp_path / "sub" / "m.png", m)
    np.testing.assert_array_equal(read_mask(tmp_path / "sub" / "m.png"), m)
    f = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    write_png(tmp_path / "f.png", f)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), np.round(f * 255))
    rgb = np.full((5, 6, 3), 7, np.uint8)
    write_png(tmp_path / "f.png", rgb)  # overwrite in place
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "sub"]  # no temp files left
    with pytest.raises(TypeError):
        write_png(tmp_path / "x.png", np.zeros((2, 2), np.int64))
