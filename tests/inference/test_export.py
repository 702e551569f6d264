"""ONNX export: dynamic shapes, embedded metadata, cache, agreement with PyTorch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from saunet import build_model
from saunet.inference.segmenter import Segmenter, TorchPredictor
from saunet.models.checkpoint import load_model, save_checkpoint
from saunet.utils.files import file_sha256

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


def _strings(doc) -> list[str]:
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in [str(k), *_strings(v)]]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return [doc] if isinstance(doc, str) else []


def test_metadata_names_weights_without_paths(exported):
    ckpt, path = exported
    meta = E.read_onnx_meta(path)
    assert meta["weights"] == {"name": "rand", "file": "rand.safetensors",
                               "sha256": file_sha256(ckpt)}  # fmt: skip
    assert "path" not in meta
    for s in _strings(meta):  # no absolute path, POSIX or Windows
        assert not re.search(r"(^|[\s'\"(])(/[^/\s]+/|[A-Za-z]:\\)", s), s
    # nor anywhere in the file (the exporter's per-node stack traces name source files)
    raw = path.read_bytes()
    for folder in (ckpt.parent, Path(E.__file__).resolve().parents[2], Path.home()):
        assert str(folder).encode() not in raw, folder


def test_metadata_states_the_convention(exported):
    _, path = exported
    meta = E.read_onnx_meta(path)
    assert meta["threshold"] == 0.43 and meta["scale"] == {"fov_diameter_px": 40.0}
    assert meta["divisor"] == 8
    inp, out = meta["input"], meta["output"]
    assert (inp["name"], inp["layout"], inp["channels"], inp["dtype"]) == (
        "image", "NCHW", "RGB", "float32")  # fmt: skip
    assert inp["range"] == [0.0, 1.0] and inp["side_multiple"] == 8
    assert "zeros" in inp["padding"] and "% 8" in inp["padding"]
    assert out["name"] == "prob" and "probability" in out["meaning"]
    assert "sigmoid already applied" in out["meaning"]
    # a client reads the same through onnxruntime alone
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert json.loads(sess.get_modelmeta().custom_metadata_map[E.META_KEY]) == meta
    # and the graph does what the metadata says: probabilities in [0, 1]
    x = np.random.default_rng(2).random((1, 3, 32, 40), dtype=np.float32)
    prob = sess.run(None, {inp["name"]: x})[0]
    assert prob.shape == (1, 1, 32, 40) and 0 <= prob.min() and prob.max() <= 1


def test_dynamic_shapes(exported):
    _, path = exported
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
