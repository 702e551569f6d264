"""``saunet export``, ``saunet segment --backend onnx`` and the plain client of docs/segment.md."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.cli import build_parser, main
from saunet.models import build_model
from saunet.models.checkpoint import save_checkpoint

pytest.importorskip("onnxruntime")


pytestmark = pytest.mark.usefixtures("one_thread")

DOC = Path(__file__).resolve().parents[2] / "docs" / "segment.md"
# Run the client with saunet and torch unimportable: it must need neither.
_NO_SAUNET = "import sys\nsys.modules['saunet'] = None\nsys.modules['torch'] = None\n"


def client_code() -> str:
    """The python block of docs/segment.md's "A plain onnxruntime client" section."""
    text = DOC.read_text()
    section = text[text.index("## A plain onnxruntime client") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_client(onnx_path: Path, photo: Path, stem: Path) -> tuple[np.ndarray, np.ndarray]:
    """Run the documented client in a fresh interpreter; its probability map and mask."""
    cmd = [sys.executable, "-c", _NO_SAUNET + client_code(), str(onnx_path), str(photo), str(stem)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    prob = np.load(f"{stem}_prob.npy")
    mask = np.asarray(Image.open(f"{stem}_mask.png")) > 0
    return prob, mask


def segment_maps(
    onnx_path: Path, photo: Path, fov: Path, out: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``saunet segment --backend onnx --scale 1 --fov``: its float32 probability map (0
    outside the FOV), its mask, and the unmasked map of the same Python path."""
    from saunet.data.io import read_image, read_mask
    from saunet.inference.segmenter import Segmenter

    args = [str(photo), "--backend", "onnx", "--onnx", str(onnx_path), "--scale", "1",
            "--fov", str(fov), "--outputs", "prob,mask", "--prob-format", "npy",
            "--out", str(out)]  # fmt: skip
    assert main(["segment", *args]) == 0
    prob = np.load(out / f"{photo.stem}_prob.npy")
    mask = np.asarray(Image.open(out / f"{photo.stem}_mask.png")) > 0
    seg = Segmenter.from_weights(None, backend="onnx", onnx_path=str(onnx_path))
    raw = seg.segment(read_image(photo), fov=read_mask(fov), scale=1.0).prob
    return prob, mask, raw


def check_client(onnx_path: Path, photo: Path, fov_path: Path, tmp: Path) -> np.ndarray:
    """Client and segment agree to 1e-5 everywhere and on the mask inside the FOV."""
    from saunet.data.io import read_mask

    fov = read_mask(fov_path)
    prob, mask = run_client(onnx_path, photo, tmp / photo.stem)
    ref, ref_mask, raw = segment_maps(onnx_path, photo, fov_path, tmp / "seg")
    assert prob.shape == ref.shape == fov.shape and prob.dtype == np.float32
    assert np.abs(np.where(fov, prob, 0) - ref).max() <= 1e-5  # what segment writes
    assert np.abs(prob - raw).max() <= 1e-5  # and before FOV masking, every pixel
    assert np.array_equal(mask & fov, ref_mask)
    return prob


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, str]:
    """A small random checkpoint, its ``saunet export`` (one export) and what it printed."""
    import torch

    tmp = tmp_path_factory.mktemp("export")
    torch.manual_seed(2)
    model = build_model("sa-unet", channels=(16, 32, 64, 128)).eval()
    meta = {"model_config": model.config.to_dict(), "threshold": 0.5,
            "scale": {"fov_diameter_px": 30.0}}  # fmt: skip
    tensors = {"model." + k: v for k, v in model.state_dict().items()}
    ckpt = save_checkpoint(tmp / "net.safetensors", tensors, meta, sidecar=False)
    onnx_path = tmp / "net.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", "--weights", str(ckpt), "--format", "onnx", "--out", str(onnx_path)])
    assert code == 0
    return ckpt, onnx_path, printed.getvalue()


@pytest.fixture(scope="module")
def eye(tmp_path_factory) -> tuple[Path, Path]:
    """A 50x62 RGB photograph (odd width: the client pads) and its round FOV mask."""
    yy, xx = np.mgrid[:50, :62]
    disc = (yy - 25) ** 2 + (xx - 31) ** 2 < 23**2
    rng = np.random.default_rng(0)
    img = (rng.uniform(40, 230, (50, 62, 3)) * disc[..., None]).astype(np.uint8)
    tmp = tmp_path_factory.mktemp("eye")
    Image.fromarray(img).save(tmp / "eye.png")
    Image.fromarray(disc.astype(np.uint8) * 255).save(tmp / "eye_fov.png")
    return tmp / "eye.png", tmp / "eye_fov.png"


def test_help_ends_with_example(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    assert capsys.readouterr().out.strip().splitlines()[-1].strip().startswith("saunet ")


def test_export_checks_and_refuses_overwrite(exported, capsys):
    ckpt, onnx_path, printed = exported
    assert "checked with onnxruntime" in printed and onnx_path.is_file()
    args = ["export", "--weights", str(ckpt), "--out", str(onnx_path)]
    assert main(args) == 2  # exists: no silent overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_segment_with_onnx_matches_torch(exported, eye, tmp_path):
    ckpt, onnx_path, _ = exported
    common = [str(eye[0]), "--device", "cpu", "--tile", "32"]
    assert main(["segment", *common, "--weights", str(ckpt), "--precision", "fp32",
                 "--out", str(tmp_path / "t")]) == 0  # fmt: skip
    assert main(["segment", *common, "--backend", "onnx", "--onnx", str(onnx_path),
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    a = np.asarray(Image.open(tmp_path / "t" / "eye_prob.png"), dtype=np.int32)
    b = np.asarray(Image.open(tmp_path / "o" / "eye_prob.png"), dtype=np.int32)
    assert np.abs(a - b).max() <= 7  # 16-bit maps (steps of 1/65535) that agree to < 1e-4
    assert (tmp_path / "o" / "summary.csv").read_text().splitlines()[1].split(",")[4] != "1"


def test_plain_client_reproduces_segment(exported, eye, tmp_path):
    """The documented client, without saunet or torch, against segment at --scale 1."""
    _, onnx_path, _ = exported
    prob = check_client(onnx_path, *eye, tmp_path)
    assert prob.shape == (50, 62) and 0 < prob.min() < prob.max() < 1
    # a client that skips the padding to a multiple of 8 gets an error, not a wrong map
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="(?i)concat|dimension|shape"):
        sess.run(None, {"image": np.zeros((1, 3, 50, 62), np.float32)})


@pytest.mark.slow
def test_plain_client_reproduces_segment_on_drive(shared_data_root, tmp_path):
    """DRIVE 01_test with the shipped weights (export ~10 s on a 2-core CPU)."""
    onnx_path = tmp_path / "sa-unet-drive.onnx"
    assert main(["export", "--weights", "drive", "--out", str(onnx_path), "--no-check"]) == 0
    test = shared_data_root / "DRIVE" / "test"
    prob = check_client(
        onnx_path, test / "images" / "01_test.tif", test / "mask" / "01_test_mask.gif", tmp_path
    )
    assert prob.shape == (584, 565)
