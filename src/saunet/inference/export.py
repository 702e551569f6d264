"""ONNX export of a checkpoint and an onnxruntime predictor for ``saunet segment``.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the default exporter of torch >= 2.9;
the TorchScript exporter is deprecated), opset :data:`OPSET`. The graph maps

    image  float32 (batch, 3, 8*h8, 8*w8)  RGB in [0, 1] (8-bit values / 255), NCHW
    prob   float32 (batch, 1, 8*h8, 8*w8)  vessel probability (the sigmoid is in the graph)

with dynamic batch, height and width, where height and width must be multiples of the
network's divisor (8 for SA-UNet; the symbolic dimension names say so). Inside PyTorch the
network pads to a multiple of 8 itself, but that shape-dependent branch cannot be exported
for arbitrary sizes, so the graph is exported for multiples of 8 and the caller pads:
:func:`saunet.inference.tiling.predict_tiled` does (zero padding, centred, like
:meth:`saunet.models.UNet.forward`), which makes ONNX and PyTorch maps identical up to float
rounding. Other runtimes must pad the same way and crop the output back.

BatchNorm is folded into the convolutions before export
(:func:`saunet.inference.fast.fold_batchnorm`): the same function up to float rounding
(``saunet export`` still checks the file against the unfolded network), and the traced graph
of SA-UNet has 88 nodes instead of 172, which saves the exporter's decomposition pass about
a fifth of its time. Most of an export is fixed cost of the exporter, whatever the network:
importing torch, onnxscript and the exporter, building its torchlib registry, and tracing
with symbolic shapes (``python -m cProfile -s cumulative -m saunet export``).

The ONNX ``metadata_props`` key ``"saunet"`` holds a JSON object: the checkpoint's
threshold, training scale, dataset split and model config (so ``saunet segment --backend
onnx --onnx model.onnx`` needs no checkpoint), the weights' file name and sha256 (never a
path of the exporting machine), and ``input`` / ``output``: the convention above, spelled out
for clients that know nothing of saunet (docs/segment.md has one). The exporter's per-node
debugging metadata (Python stack traces with absolute source paths) is dropped. Without
``--onnx`` the segment command exports into a cache on first use: ``$SAUNET_CACHE`` or
``$XDG_CACHE_HOME/saunet`` (``~/.cache/saunet``), file ``<weights>-<sha256 of the
checkpoint, 16 hex>-op<opset>.onnx``.
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

from saunet.inference.fast import fold_batchnorm
from saunet.utils.files import atomic_write, file_sha256

__all__ = [
    "OPSET", "META_KEY", "onnx_metadata", "export_onnx", "read_onnx_meta", "cached_onnx",
    "OnnxPredictor",
]  # fmt: skip

log = logging.getLogger(__name__)

OPSET = 18
META_KEY = "saunet"
# Carried over from the checkpoint's metadata; none of these holds a file path.
_META_FIELDS = ("threshold", "scale", "data", "model_config", "code_version", "seed")
# Bumped when the embedded metadata changes, so the segment cache does not serve old files.
_META_VERSION = 2


class _Probabilities(torch.nn.Module):
    """``sigmoid(model(x))``: the exported graph returns probabilities."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings about optional packages and its optimizer's INFO lines."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "onnx_ir")
    loggers = [logging.getLogger(n) for n in names]
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


def onnx_metadata(
    meta: Mapping[str, Any] | None, divisor: int, weights: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The JSON object embedded under :data:`META_KEY`.

    Args:
        meta: checkpoint metadata; only the fields in ``_META_FIELDS`` are kept.
        divisor: the network's side divisor (8 for SA-UNet): input sides are multiples of it.
        weights: the checkpoint file, named by its file name and sha256 (hex); its path
            stays on the exporting machine. None: no ``weights`` entry.

    ``input`` and ``output`` state the graph's convention (module docstring) in words a
    client without saunet can follow.
    """
    doc: dict[str, Any] = {k: v for k, v in (meta or {}).items() if k in _META_FIELDS}
    d = int(divisor)
    doc["divisor"] = d
    doc["input"] = {
        "name": "image",
        "layout": "NCHW",
        "dtype": "float32",
        "channels": "RGB",
        "range": [0.0, 1.0],
        "scaling": "8-bit values / 255",
        "side_multiple": d,
        "padding": f"zeros, centred: pad = (-side) % {d}, pad // 2 before and the rest after; "
        "crop the output back to the image",
    }
    doc["output"] = {
        "name": "prob",
        "layout": "NCHW, 1 channel, the input's height and width",
        "dtype": "float32",
        "meaning": "vessel probability in [0, 1], sigmoid already applied; mask = prob >= "
        "threshold (threshold['fov'] when threshold is an object)",
    }
    if weights is not None:
        src = Path(weights)
        doc["weights"] = {"name": src.stem, "file": src.name, "sha256": file_sha256(src)}
    return doc


def _drop_debug_metadata(model: Any) -> None:
    """Remove the exporter's per-node and per-value metadata from an ``onnx_ir`` model.

    Those entries (Python stack traces, FX node text, module paths) are debugging aids that
    name absolute source paths of the exporting machine; runtimes do not read them.
    """
    for graph in [model.graph, *model.functions.values()]:
        values = [*graph.inputs, *graph.outputs]
        for node in graph.all_nodes():
            node.metadata_props.clear()
            values += node.outputs
        if isinstance(graph, type(model.graph)):
            values += graph.initializers.values()
        for value in values:
            value.metadata_props.clear()


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
        meta: checkpoint metadata to embed (:func:`onnx_metadata`); its ``path`` (set by
            :func:`saunet.models.checkpoint.load_model`) names the weights by file name and
            sha256.
        opset: ONNX opset (>= 17).

    Returns the path. Dimensions: module docstring.
    """
    from torch.export import Dim

    divisor = int(getattr(model, "divisor", 8))
    weights = (meta or {}).get("path")
    doc = onnx_metadata(meta, divisor, weights if weights and Path(weights).is_file() else None)
    # Folded: fewer nodes for the exporter to trace and decompose (module docstring).
    model = fold_batchnorm(model.to("cpu", memory_format=torch.contiguous_format))
    wrapper = _Probabilities(model.eval())
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
    _drop_debug_metadata(program.model)
    program.model.doc_string = (
        f"SA-UNet retinal vessel segmentation exported by saunet: input 'image' float32 NCHW "
        f"RGB in [0, 1], sides multiples of {divisor} (zero-pad centred, crop back); output "
        f"'prob' vessel probability. Details: metadata key '{META_KEY}'."
    )
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

    Keyed by the checkpoint file's sha256, the opset and the metadata version; falls back to a temporary folder
    when the cache folder is not writable.
    """
    src = Path(meta["path"])
    name = f"{src.stem}-{file_sha256(src)[:16]}-op{OPSET}-m{_META_VERSION}.onnx"
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
