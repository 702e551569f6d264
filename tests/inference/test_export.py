"""ONNX export: dynamic shapes, embedded metadata, cache, agreement with PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from saunet import build_model
from saunet.inference.segmenter import Segmenter, TorchPredictor
from saunet.models.checkpoint import load_model, save_checkpoint

ort = pytest.importorskip("onnxruntime")
from saunet.inference import export as E  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """A random SA-UNet checkpoint and its ONNX export through the cache (one export)."""
    tmp = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = build_model("sa-unet").eval()
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    meta = {"model_config": model.config.to_dict(), "threshold": 0.43,
            "scale": {"fov_diameter_px": 40.0}}  # fmt: skip
    ckpt = save_checkpoint(
        tmp / "rand.safetensors", {"model." + k: v for k, v in model.state_dict().items()}, meta
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("SAUNET_CACHE", str(tmp / "cache"))
    model, meta = load_model(ckpt)
    path = E.cached_onnx(model, meta)
    yield ckpt, path
    mp.undo()


def test_cached_export_is_reused(exported, monkeypatch, tmp_path):
    ckpt, path = exported
    assert path.is_file() and path.suffix == ".onnx" and "rand-" in path.name
    monkeypatch.setenv("SAUNET_CACHE", str(path.parent.parent))

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(E, "export_onnx", no_export)
    model, meta = load_model(ckpt)
    assert E.cached_onnx(model, meta) == path


def test_dynamic_shapes_and_metadata(exported):
    _, path = exported
    meta = E.read_onnx_meta(path)
    assert meta["threshold"] == 0.43 and meta["scale"] == {"fov_diameter_px": 40.0}
    assert meta["divisor"] == 8
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "image" and isinstance(inp.shape[0], str)
    assert all(isinstance(d, str) for d in (inp.shape[2], inp.shape[3]))
    for shape in [(1, 3, 64, 96), (3, 3, 40, 24)]:
        out = sess.run(None, {"image": np.zeros(shape, np.float32)})[0]
        assert out.shape == (shape[0], 1, *shape[2:])


def test_onnx_matches_torch(exported):
    ckpt, path = exported
    model, _ = load_model(ckpt)
    x = np.random.default_rng(0).random((2, 3, 48, 72), dtype=np.float32)
    ref = TorchPredictor(model, torch.device("cpu"), None, channels_last=False)(x)
    got = E.OnnxPredictor(path)(x)
    assert np.abs(got - ref).max() < 1e-4
    # whole pipeline: odd size (runner pads to 8), tiles, flips, rescaling
    yy, xx = np.mgrid[:53, :67]
    disc = (yy - 26) ** 2 + (xx - 33) ** 2 <= 25**2  # FOV diameter ~50 -> scale ~0.8
    img = np.random.default_rng(1).random((53, 67, 3), dtype=np.float32) * disc[..., None]
    kw = dict(tile=32, margin=8, tta=True)
    a = Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32", **kw).segment(img)
    b = Segmenter.from_weights(str(ckpt), backend="onnx", onnx_path=str(path), **kw).segment(img)
    c = Segmenter.from_weights(None, backend="onnx", onnx_path=str(path), **kw).segment(img)
    assert a.scale == b.scale == c.scale and 0.7 < a.scale < 0.9
    for r in (b, c):
        assert np.abs(r.prob - a.prob).max() < 1e-4
        assert r.threshold == a.threshold == 0.43
