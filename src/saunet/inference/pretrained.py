"""Python API: ``saunet.load_pretrained("drive").segment(image)``.

The returned :class:`saunet.inference.segmenter.Segmenter` is the object ``saunet segment`` uses, so
the API and the command produce the same maps::

    import saunet
    from skimage import data

    seg = saunet.load_pretrained()                 # "auto"; or "drive", "chase", "general",
                                                   # a .safetensors, a run dir
    result = seg.segment(data.retina())           # (H, W, 3) uint8 or float in [0, 1]
    result.prob, result.mask, result.fov          # (H, W) float32, bool, bool
    result.scale, result.threshold, result.vessel_fraction
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the segmenter pulls in scipy and Pillow: import it on first use
    from saunet.inference.router import WeightsRouter
    from saunet.inference.segmenter import Segmenter

__all__ = ["load_pretrained"]

#: Same values as saunet.inference.segmenter.DEFAULT_TILE / DEFAULT_MARGIN (checked by the tests).
_TILE, _MARGIN = 1024, 64


def load_pretrained(
    weights: str | os.PathLike = "auto",
    *,
    device: str = "auto",
    precision: str = "auto",
    backend: str = "torch",
    onnx_path: str | os.PathLike | None = None,
    tta: bool = False,
    tile: int = _TILE,
    margin: int = _MARGIN,
) -> Segmenter | WeightsRouter:
    """A :class:`Segmenter` for shipped weights (``"drive"``, ``"chase"``, ``"general"``) or a
    checkpoint; for ``"auto"`` (default) a :class:`saunet.inference.router.WeightsRouter`,
    which picks the shipped weights per image by its size, as ``saunet segment`` does.

    Args:
        weights: shipped name, ``.safetensors`` checkpoint or training run directory.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``...
        precision: ``auto`` (bf16 where the device runs it natively, else fp32), ``fp32``,
            ``bf16``, ``fp16``.
        backend: ``torch`` or ``onnx`` (onnxruntime; exported and cached on first use).
        onnx_path: an exported model to run with the onnx backend.
        tta: average over flips by default.
        tile, margin: tiled-inference window and context in px.

    Raises:
        FileNotFoundError: unknown weights; ValueError: a file that is not a saunet checkpoint.
    """
    from saunet.inference.router import AUTO, WeightsRouter
    from saunet.inference.segmenter import Segmenter

    if str(weights) == AUTO:
        return WeightsRouter(
            lambda name: load_pretrained(name, device=device, precision=precision,
                                         backend=backend, tta=tta, tile=tile, margin=margin)
        )  # fmt: skip
    return Segmenter.from_weights(
        str(weights), device=device, precision=precision, backend=backend,
        onnx_path=None if onnx_path is None else str(onnx_path), tta=tta, tile=tile, margin=margin,
    )  # fmt: skip
