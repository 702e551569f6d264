"""One fundus photograph in, vessel probability map, binary mask and FOV out.

:class:`Segmenter` is the single code path behind ``saunet segment``, the Python API
(:func:`saunet.load_pretrained`) and ``benchmarks/scale_sweep.py``:

1. the image is converted to ``float32 (H, W, 3)`` in [0, 1] (:func:`as_rgb_float`);
2. the field of view is given or estimated (:func:`saunet.data.fov.estimate_fov`);
3. the resize factor is chosen (:func:`saunet.inference.scale.choose_scale`) and the image resized;
4. probabilities are predicted in overlapping tiles (:func:`saunet.inference.tiling.predict_tiled`),
   optionally averaged over flips, with the PyTorch or the ONNX backend;
5. the map is resized back (bilinear) to ``H x W``;
6. ``mask = (prob >= threshold) & fov``; the threshold comes from the weights' metadata
   (``meta["threshold"]``, a number or ``{"fov": t, ...}``; 0.5 when absent).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from saunet.data.fov import estimate_fov
from saunet.inference import fast
from saunet.inference.scale import choose_scale, resize_image, resize_map, scaled_size
from saunet.inference.tiling import Predictor, predict_tiled
from saunet.models.checkpoint import load_model
from saunet.utils.device import autocast, resolve_device, resolve_precision

__all__ = [
    "DEFAULT_TILE",
    "DEFAULT_MARGIN",
    "SegmentationResult",
    "Segmenter",
    "TorchPredictor",
    "as_rgb_float",
    "weights_threshold",
    "want_compile",
    "COMPILE_MIN_IMAGES",
]

log = logging.getLogger(__name__)

#: Window side and context margin of tiled inference (px, at the network's scale). One
#: 1024 x 1024 fp32 forward pass of SA-UNet stays well below 1 GB (benchmarks/bench_memory.py).
DEFAULT_TILE, DEFAULT_MARGIN = 1024, 64


@dataclass
class SegmentationResult:
    """Output of :meth:`Segmenter.segment`, all maps at the input's size ``(H, W)``.

    Attributes:
        prob: float32 vessel probability, raw network output everywhere (also outside the FOV).
        mask: bool, ``(prob >= threshold) & fov``.
        fov: bool field of view (given or estimated).
        scale: resize factor the network saw the image at.
        threshold: threshold used for ``mask``.
        fov_source: ``"given"`` or ``"estimated"``.
        seconds: wall time of :meth:`Segmenter.segment`.
        weights: name of the weights that made the map.
    """

    prob: np.ndarray
    mask: np.ndarray
    fov: np.ndarray
    scale: float
    threshold: float
    fov_source: str = "estimated"
    seconds: float = 0.0
    weights: str = ""

    @property
    def vessel_fraction(self) -> float:
        """Fraction of FOV pixels labelled vessel."""
        n = int(np.count_nonzero(self.fov))
        return float(np.count_nonzero(self.mask)) / n if n else 0.0


def as_rgb_float(image: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 3)`` in [0, 1] from an array a user may hold.

    uint8 is divided by 255 and uint16 by 65535; floats must already lie in [0, 1]; ``(H, W)``
    and ``(H, W, 1)`` are replicated to RGB; ``(H, W, 4)`` is composited on black like
    :func:`saunet.data.io.read_image` does with RGBA files.
    """
    a = np.asarray(image)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif a.dtype == np.bool_:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32, copy=False)
        if a.size and (not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0):
            raise ValueError("float images must lie in [0, 1]; divide 8-bit values by 255")
    else:
        raise ValueError(f"unsupported image dtype {a.dtype}; use uint8, uint16 or float")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3] * a[:, :, 3:4]
    if a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise ValueError(f"expected an (H, W, 3) image, got shape {np.shape(image)}")
    return np.ascontiguousarray(a, dtype=np.float32)


#: ``--compile auto`` compiles for a one-thread CPU run of at least this many images:
#: compilation costs ~8-25 s once and saves ~20-35 ms per DRIVE-size image. With two or more
#: threads the eager network in two lanes is as fast per image as the compiled one in one
#: (56-60 against 61 ms on a 2-core Intel Xeon with AMX, benchmarks/README.md), without the
#: compilation, so ``auto`` leaves it off there.
COMPILE_MIN_IMAGES = 1000


def want_compile(
    mode: str, n_images: int, backend: str, device: str, threads: int | None = None
) -> bool:
    """``--compile`` policy: ``on``, ``off``, or ``auto`` (torch on a CPU with one thread,
    many images); ``threads`` defaults to torch's count."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"compile mode {mode!r}: use auto, on or off")
    if mode != "auto":
        return mode == "on"
    on_cpu = resolve_device(device).type == "cpu"
    n_threads = torch.get_num_threads() if threads is None else threads
    return backend == "torch" and on_cpu and n_images >= COMPILE_MIN_IMAGES and n_threads < 2


def weights_threshold(meta: Mapping[str, Any] | None) -> float:
    """Threshold of the weights: ``meta["threshold"]`` (number or per-protocol dict) or 0.5."""
    t = (meta or {}).get("threshold", 0.5)
    if isinstance(t, Mapping):
        t = t.get("fov", t.get("paper", 0.5))
    return float(t)


class TorchPredictor:
    """PyTorch predictor: ``(N, 3, h, w)`` float32 -> ``(N, h, w)`` probabilities.

    Args:
        model: eval-mode network returning logits.
        device: torch device.
        amp_dtype: autocast dtype, None for fp32 (:func:`resolve_precision`).
        channels_last: channels-last memory format (faster bf16/fp32 convolutions on CPU).
        compile: run ``torch.compile`` (:func:`saunet.inference.fast.compile_for_inference`); if the
            first compiled call fails (no C++ compiler, unsupported platform) a warning is
            logged and the eager model is used from then on.
    """

    name = "torch"

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool = True,
        compile: bool = False,
    ) -> None:
        self.device, self.amp_dtype, self.channels_last = device, amp_dtype, channels_last
        model = model.to(device).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.compiled: torch.nn.Module | None = None
        if compile:
            self.compiled = fast.compile_for_inference(model)

    @property
    def precision(self) -> str:
        return "fp32" if self.amp_dtype is None else str(self.amp_dtype).replace("torch.", "")

    def _forward(self, t: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(t)
            except Exception as exc:  # compilation needs a C++ toolchain; eager always works
                log.warning("torch.compile failed (%s); running eagerly", str(exc).split("\n")[0])
                self.compiled = None
        return self.model(t)

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).to(self.device)
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp_dtype):
            logits = self._forward(t)
        return torch.sigmoid(logits.float())[:, 0].cpu().numpy()


@dataclass
class Segmenter:
    """Segments fundus photographs with one set of weights; see the module docstring.

    Attributes:
        predictor: :class:`TorchPredictor` or :class:`saunet.inference.export.OnnxPredictor`.
        meta: the weights' metadata (``threshold``, ``scale``, ``data``, ``model_config``).
        divisor: the network's size divisor (8 for SA-UNet).
        align: windows are also padded to a multiple of this: oneDNN's CPU convolutions ran
            25-45% slower on widths whose eighth is prime (584 = 8 x 73 for DRIVE) than on
            neighbouring multiples of 16 (benchmarks/README.md, "Tile width").
        tile, margin: tiled inference window and context (px, at the network's scale).
        tta: average over flips by default.
        name: weights name for logs and reports.
    """

    predictor: Predictor
    meta: dict[str, Any] = field(default_factory=dict)
    divisor: int = 8
    align: int = 16
    tile: int = DEFAULT_TILE
    margin: int = DEFAULT_MARGIN
    tta: bool = False
    name: str = "weights"

    @classmethod
    def from_weights(
        cls,
        weights: str | None = "drive",
        *,
        device: str = "auto",
        precision: str = "auto",
        backend: str = "torch",
        onnx_path: str | None = None,
        compile: bool = False,
        **kw: Any,
    ) -> Segmenter:
        """Build from shipped weights (``drive``, ``chase``), a checkpoint file or a run dir.

        ``backend="onnx"`` runs ``onnx_path`` (exported on first use into a cache when None,
        :func:`saunet.inference.export.cached_onnx`) with onnxruntime; with ``weights=None`` the
        metadata embedded in the ONNX file is used. ``compile`` applies ``torch.compile`` to
        the PyTorch backend (:class:`TorchPredictor`). Other keyword arguments set the
        dataclass fields (``tile``, ``margin``, ``tta``).
        """
        from pathlib import Path

        dev = resolve_device(device)
        if weights is None:
            if backend != "onnx" or onnx_path is None:
                raise ValueError("weights=None needs backend='onnx' and onnx_path")
            from saunet.inference.export import OnnxPredictor

            onnx_pred = OnnxPredictor(onnx_path, device=dev)
            meta = dict(onnx_pred.meta)
            return cls(onnx_pred, meta, divisor=onnx_pred.divisor, name=Path(onnx_path).stem, **kw)
        model, meta = load_model(weights, device="cpu")
        name = Path(meta["path"]).stem
        if backend == "torch":
            amp = resolve_precision(precision, dev)
            # BatchNorm folded into the convolutions: same maps (< 1e-5), 16-27% faster
            # in bf16 on CPU (benchmarks/README.md).
            pred: Predictor = TorchPredictor(fast.fold_batchnorm(model), dev, amp, compile=compile)
        elif backend == "onnx":
            from saunet.inference.export import OnnxPredictor, cached_onnx

            if compile:
                log.warning("--compile applies to the torch backend; ignored for onnx")
            if precision not in ("auto", "fp32"):
                log.warning("the onnx backend runs in fp32; --precision %s ignored", precision)
            path = onnx_path or cached_onnx(model, meta)
            pred = OnnxPredictor(path, device=dev)
        else:
            raise ValueError(f"unknown backend {backend!r}; use torch or onnx")
        return cls(pred, meta, divisor=model.divisor, name=name, **kw)

    @property
    def threshold(self) -> float:
        return weights_threshold(self.meta)

    def segment(
        self,
        image: np.ndarray,
        *,
        fov: np.ndarray | None = None,
        scale: str | float | None = "auto",
        threshold: float | None = None,
        tta: bool | None = None,
        field_angle: float | None = None,
        fov_source: str = "given",
    ) -> SegmentationResult:
        """Segment one image.

        Args:
            image: ``(H, W, 3)`` uint8/uint16/float in [0, 1] (also ``(H, W)``, ``(H, W, 4)``).
            fov: ``bool (H, W)`` field of view; estimated from the image when None.
            scale: ``"auto"`` (policy of :mod:`saunet.inference.scale`) or a resize factor.
            threshold: mask threshold; the weights' threshold when None.
            tta: flip averaging; the segmenter's default when None.
            field_angle: the camera's field angle in degrees, if known (calibre matching).
            fov_source: what to report as the origin of a ``fov`` passed in (``"given"``, or
                ``"estimated"`` for a mask the caller estimated beforehand).
        """
        t0 = time.perf_counter()
        img = as_rgb_float(image)
        hw = img.shape[:2]
        if fov is None:
            fov_mask, source = estimate_fov(img), "estimated"
        else:
            fov_mask, source = np.asarray(fov, dtype=bool), fov_source
            if fov_mask.shape != hw:
                raise ValueError(f"FOV mask {fov_mask.shape} does not match image {hw}")
        s = choose_scale(fov_mask, self.meta, scale, field_angle=field_angle)
        work = img if s == 1.0 else resize_image(img, scaled_size(hw, s))
        prob = predict_tiled(
            self.predictor, work, tile=self.tile, margin=self.margin,
            divisor=math.lcm(self.divisor, max(1, self.align)),
            tta=self.tta if tta is None else tta,
        )  # fmt: skip
        del work
        prob = resize_map(prob, hw)
        thr = self.threshold if threshold is None else float(threshold)
        mask = (prob >= thr) & fov_mask
        log.debug(
            "segmented %dx%d at scale %.4g in %.2fs", hw[1], hw[0], s, time.perf_counter() - t0
        )
        return SegmentationResult(
            prob,
            mask,
            fov_mask,
            s,
            thr,
            source,
            seconds=time.perf_counter() - t0,
            weights=self.name,
        )
