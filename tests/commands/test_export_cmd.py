"""``saunet export`` and ``saunet segment --backend onnx`` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.cli import build_parser, main

pytest.importorskip("onnxruntime")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def ckpt(tmp_path, tiny_checkpoint) -> Path:
    return tiny_checkpoint(tmp_path / "net.safetensors", seed=2, channels=(16, 32, 64, 128),
                           scale={"fov_diameter_px": 30.0})  # fmt: skip


def test_help_ends_with_example(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    assert capsys.readouterr().out.strip().splitlines()[-1].strip().startswith("saunet ")


def test_export_then_segment_with_onnx(tmp_path, ckpt, capsys):
    onnx_path = tmp_path / "net.onnx"
    args = ["export", "--weights", str(ckpt), "--format", "onnx", "--out", str(onnx_path)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "checked with onnxruntime" in printed and onnx_path.is_file()
    assert main(args) == 2  # exists: no silent overwrite
    assert "--overwrite" in capsys.readouterr().err

    yy, xx = np.mgrid[:50, :62]
    disc = (yy - 25) ** 2 + (xx - 31) ** 2 < 23**2
    img = (np.random.default_rng(0).uniform(40, 230, (50, 62, 3)) * disc[..., None]).astype(
        np.uint8
    )
    Image.fromarray(img).save(tmp_path / "eye.png")
    common = [str(tmp_path / "eye.png"), "--device", "cpu", "--tile", "32"]
    assert main(["segment", *common, "--weights", str(ckpt), "--precision", "fp32",
                 "--out", str(tmp_path / "t")]) == 0  # fmt: skip
    assert main(["segment", *common, "--backend", "onnx", "--onnx", str(onnx_path),
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    a = np.asarray(Image.open(tmp_path / "t" / "eye_prob.png"), dtype=np.int32)
    b = np.asarray(Image.open(tmp_path / "o" / "eye_prob.png"), dtype=np.int32)
    assert np.abs(a - b).max() <= 7  # 16-bit maps (steps of 1/65535) that agree to < 1e-4
    assert (tmp_path / "o" / "summary.csv").read_text().splitlines()[1].split(",")[4] != "1"
