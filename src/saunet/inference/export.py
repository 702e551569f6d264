"""ONNX export of a checkpoint and an onnxruntime predictor for ``saunet segment``.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the default exporter of torch >= 2.9;
the TorchScript exporter is deprecated), opset :data:`OPSET`. The graph maps

    image  float32 (batch, 3, 8*h8, 8*w8)  RGB / 255
    prob   float32 (batch, 1, 8*h8, 8*w8)  sigmoid of the logits

with dynamic batch, height and width, where height and width must be multiples of the
network's divisor (8 for SA-UNet; the symbolic dimension names say so). Inside PyTorch the
network pads to a multiple of 8 itself, but that shape-dependent branch cannot be exported
for arbitrary sizes, so the graph is exported for multiples of 8 and the caller pads:
:func:`saunet.inference.tiling.predict_tiled` does (zero padding, centred, like
:meth:`saunet.models.UNet.forward`), which makes ONNX and PyTorch maps identical up to float
rounding. Other runtimes must pad the same way and crop the output back.

The checkpoint's metadata (threshold, training scale, dataset, model config) travels in the
ONNX ``metadata_props`` under the key ``"saunet"``, so ``saunet segment --backend onnx --onnx
model.onnx`` needs no checkpoint. Without ``--onnx`` the segment command exports into a
cache on first use: ``$SAUNET_CACHE`` or ``$XDG_CACHE_HOME/saunet`` (``~/.cache/saunet``),
file ``<weights>-<sha256 of the checkpoint, 16 hex>.onnx``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saunet.utils.files import atomic_write, file_sha256

__all__ = ["OPSET", "META_KEY", "export_onnx", "read_onnx_meta", "cached_onnx", "OnnxPredictor"]

log = logging.getLogger(__name__)

OPSET = 18
META_KEY = "saunet"
_META_FIELDS = ("threshold", "scale", "data", "model_config", "code_version", "path", "seed")


class _Probabilities(torch.nn.Module):
    """``sigmoid(model(x))``: the exported graph returns probabilities."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings about optional packages (e.g. torchvision ops)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(
    model: torch.nn.Module,
    path: str | os.PathLike,
    meta: Mapping[str, Any] | None = None,
    *,
    opset: int = OPSET,
) -> Path:
    """Export ``model`` (a :class:`saunet.models.UNet`) to ONNX at ``path``, atomically.

    Args:
        model: network returning logits; exported in eval mode on the CPU in fp32.
        path: output ``.onnx`` file (parent folders are created).
        meta: checkpoint metadata to embed (threshold, scale, data, model config).
        opset: ONNX opset (>= 17).

    Returns the path. Dimensions: module docstring.
    """
    from torch.export import Dim

    divisor = int(getattr(model, "divisor", 8))
    wrapper = _Probabilities(model.to("cpu", memory_format=torch.contiguous_format).eval())
    example = torch.rand(1, 3, 4 * divisor, 6 * divisor)
    dims = {
        0: Dim("batch", min=1, max=4096),
        2: divisor * Dim("h8", min=1, max=16384 // divisor),
        3: divisor * Dim("w8", min=1, max=16384 // divisor),
    }
    with _quiet_exporter():
        program = torch.onnx.export(
            wrapper, (example,), dynamo=True, opset_version=opset, input_names=["image"],
            output_names=["prob"], dynamic_shapes={"x": dims}, verbose=False,
        )  # fmt: skip
    doc = {k: v for k, v in (meta or {}).items() if k in _META_FIELDS}
    doc["divisor"] = divisor
    program.model.metadata_props[META_KEY] = json.dumps(doc, sort_keys=True)
    path = Path(path)
    atomic_write(path, lambda tmp: program.save(tmp, external_data=False))
    log.info("exported %s (opset %d, dynamic batch/height/width)", path, opset)
    return path


def read_onnx_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The ``saunet`` metadata embedded by :func:`export_onnx` (empty for foreign models)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == META_KEY:
            return json.loads(prop.value)
    return {}


def _cache_dir() -> Path:
    base = os.environ.get("SAUNET_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "saunet"


def cached_onnx(model: torch.nn.Module, meta: Mapping[str, Any]) -> Path:
    """ONNX file of a loaded checkpoint, exported into the cache on first use.

    Keyed by the checkpoint file's sha256 and the opset; falls back to a temporary folder
    when the cache folder is not writable.
    """
    src = Path(meta["path"])
    name = f"{src.stem}-{file_sha256(src)[:16]}-op{OPSET}.onnx"
    for folder in (_cache_dir() / "onnx", Path(tempfile.gettempdir()) / "saunet-onnx"):
        path = folder / name
        if path.is_file():
            return path
        try:
            return export_onnx(model, path, meta)
        except OSError as exc:
            log.warning("cannot write the ONNX cache %s (%s)", folder, exc)
    raise OSError("no writable folder for the ONNX export; pass --onnx PATH")


class OnnxPredictor:
    """onnxruntime predictor: ``(N, 3, h, w)`` float32 -> ``(N, h, w)`` probabilities."""

    name = "onnx"
    precision = "fp32"

    def __init__(self, path: str | os.PathLike, device: torch.device | str = "cpu") -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # optional dependency
            raise ImportError(
                "the onnx backend needs onnxruntime: pip install 'saunet[onnx]'"
            ) from exc
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        available = set(ort.get_available_providers())
        self.path = Path(path)
        self.session = ort.InferenceSession(
            str(path), providers=[p for p in providers if p in available]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.meta = read_onnx_meta(path)
        self.divisor = int(self.meta.get("divisor", 8))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]
        return np.asarray(out, dtype=np.float32)[:, 0]
