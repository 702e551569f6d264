"""``saunet segment`` end to end on a folder of mixed synthetic images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def ckpt(tmp_path, tiny_checkpoint) -> Path:
    scale = {"fov_diameter_px": 40.0, "field_angle_deg": 45.0, "calibre_factor": 1.0}
    return tiny_checkpoint(tmp_path / "tiny.safetensors", threshold=0.45, scale=scale)


def photo(h: int, w: int, seed: int) -> np.ndarray:
    """float (h, w, 3) in [0, 1]: a textured disc on black."""
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    return np.random.default_rng(seed).uniform(0.2, 0.9, (h, w, 3)) * disc[..., None]


@pytest.fixture
def mixed(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    u8 = lambda a: (a * 255).astype(np.uint8)  # noqa: E731
    Image.fromarray(u8(photo(48, 64, 0))).save(d / "rgb.png")
    Image.fromarray(u8(photo(50, 70, 1))).save(d / "photo.jpg")
    Image.fromarray(u8(photo(40, 52, 2)[..., 1])).save(d / "gray.png")
    rgba = np.dstack([u8(photo(44, 60, 3)), np.full((44, 60), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(d / "alpha.png")
    g16 = (photo(46, 58, 4)[..., 1] * 65535).astype(np.uint16)
    Image.fromarray(g16).save(d / "deep.tif")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (d / "readme.txt").write_text("ignored: not an image extension")
    return d


GOOD = ["alpha", "deep", "gray", "photo", "rgb"]


def test_help_ends_with_example(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["segment", "--help"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].strip().startswith("saunet segment ")


def test_mixed_folder(tmp_path, mixed, ckpt, capsys):
    out = tmp_path / "out"
    args = ["segment", str(mixed), "--weights", str(ckpt), "--out", str(out), "--device", "cpu"]
    assert main(args) == 1  # some input failed
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.out and "5 of 6" in captured.out
    expected = {f"{n}{s}" for n in GOOD for s in ("_prob.png", "_mask.png", "_overlay.jpg")}
    assert {p.name for p in out.iterdir()} == expected | {"summary.csv"}
    with open(out / "summary.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["broken"]["status"].startswith("failed") and "broken.jpg" in rows["broken"]["input"]
    for n in GOOD:
        r = rows[n]
        assert r["status"] == "ok" and r["threshold"] == "0.45" and 0.5 < float(r["scale"]) < 1.5
        h, w = int(r["height"]), int(r["width"])
        prob = np.asarray(Image.open(out / f"{n}_prob.png"))
        mask = np.asarray(Image.open(out / f"{n}_mask.png"))
        over = np.asarray(Image.open(out / f"{n}_overlay.jpg"))
        assert prob.shape == mask.shape == (h, w) and over.shape == (h, w, 3)
        assert prob.dtype == np.uint16 and set(np.unique(mask)) <= {0, 255}
        assert 0 <= float(r["vessel_fraction"]) <= 1
    # rerun without --overwrite: usage error naming an output, nothing touched
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == before
    # with --overwrite, threshold 1 (no vessel) and no rescaling
    assert main([*args, "--overwrite", "--threshold", "1", "--scale", "1"]) == 1
    with open(out / "summary.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["rgb"]["vessel_fraction"] == "0.00000" and rows["rgb"]["scale"] == "1"
    assert not np.asarray(Image.open(out / "rgb_mask.png")).any()


def test_fov_and_tta_single_file(tmp_path, mixed, ckpt):
    fov = np.zeros((48, 64), np.uint8)
    fov[10:30, 10:40] = 255
    Image.fromarray(fov).save(tmp_path / "fov.png")
    out = tmp_path / "o"
    rc = main(["segment", str(mixed / "rgb.png"), "--weights", str(ckpt), "--out", str(out),
               "--fov", str(tmp_path / "fov.png"), "--tta", "--threshold", "0"])  # fmt: skip
    assert rc == 0
    mask = np.asarray(Image.open(out / "rgb_mask.png")) > 0
    np.testing.assert_array_equal(mask, fov > 0)


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--scale", "zero"],
        ["--threshold", "2"],
        ["--demo"],
        ["--onnx", "x.onnx"],
        ["--resume", "--overwrite"],
    ],
)
def test_usage_errors(tmp_path, mixed, ckpt, extra, capsys):
    inputs = [str(mixed / "rgb.png")] if extra else []
    rc = main(["segment", *inputs, "--weights", str(ckpt), "--out", str(tmp_path / "o"), *extra])
    assert rc == 2
    assert "saunet segment: error:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_weights_is_usage_error(tmp_path, mixed, capsys):
    rc = main(["segment", str(mixed), "--weights", str(tmp_path / "nope.safetensors"),
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2 and "nope.safetensors" in capsys.readouterr().err


def test_demo(tmp_path, ckpt, capsys):
    out = tmp_path / "demo"
    rc = main(["segment", "--demo", "--weights", str(ckpt), "--out", str(out), "--scale", "0.1"])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {
        "retina_prob.png",
        "retina_mask.png",
        "retina_overlay.jpg",
        "summary.csv",
    }
    assert np.asarray(Image.open(out / "retina_overlay.jpg")).shape == (1411, 1411, 3)


@pytest.mark.parametrize(
    ("extra", "files"),
    [
        (["--outputs", "prob", "--prob-format", "npy"], {"rgb_prob.npy"}),
        (
            ["--outputs", "mask,overlay", "--overlay-format", "png"],
            {"rgb_mask.png", "rgb_overlay.png"},
        ),
        (["--outputs", "prob", "--prob-format", "tiff"], {"rgb_prob.tif"}),
    ],
)
def test_output_choices(tmp_path, mixed, ckpt, extra, files):
    out = tmp_path / "o"
    rc = main(
        ["segment", str(mixed / "rgb.png"), "--weights", str(ckpt), "--out", str(out), *extra]
    )
    assert rc == 0
    assert {p.name for p in out.iterdir()} == files | {"summary.csv"}


def test_lossless_maps_agree_across_formats(tmp_path, mixed, ckpt):
    """The three probability formats hold the same map: exact float32 (npy, tiff), and the
    16-bit PNG within half a step of 1/65535, read back with Pillow and numpy alone."""
    maps = {}
    for fmt in ("png16", "tiff", "npy"):
        out = tmp_path / fmt
        args = ["segment", str(mixed / "rgb.png"), "--weights", str(ckpt), "--out", str(out)]
        assert main([*args, "--outputs", "prob", "--prob-format", fmt]) == 0
        path = next(out.glob("rgb_prob.*"))
        if fmt == "npy":
            maps[fmt] = np.load(path)
        elif fmt == "tiff":
            maps[fmt] = np.asarray(Image.open(path), dtype=np.float32)
        else:
            maps[fmt] = np.asarray(Image.open(path), dtype=np.float64) / 65535
    np.testing.assert_array_equal(maps["npy"], maps["tiff"])
    assert maps["npy"].dtype == np.float32 and maps["npy"].max() > 0
    assert np.abs(maps["png16"] - maps["npy"]).max() <= 0.5 / 65535 + 1e-7


@pytest.mark.parametrize("extra", [["--outputs", "prob,edges"], ["--outputs", ","]])
def test_bad_output_choice_is_one_line(tmp_path, mixed, ckpt, extra, capsys):
    rc = main(
        [
            "segment",
            str(mixed / "rgb.png"),
            "--weights",
            str(ckpt),
            "--out",
            str(tmp_path / "o"),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--outputs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
