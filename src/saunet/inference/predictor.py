"""Whole-image inference: fundus image in, vessel probability map out.

The authors pad test images symmetrically with zeros to the training size (592x592 for
DRIVE, 1008x1008 for CHASE_DB1), predict, and crop back to the original size
(the authors' released evaluation code; :data:`saunet.paper.PAPER_PAD`). Without ``pad_to``
the network itself pads to a multiple of 8 (:meth:`saunet.models.unet.UNet.forward`).
Photographs of any size go through :mod:`saunet.inference.tiling` and
:class:`saunet.inference.segmenter.Segmenter`, which build on these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saunet.utils.device import autocast

__all__ = ["predict_probabilities", "predict_batch"]

log = logging.getLogger(__name__)


def _pad_offsets(h: int, w: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` zero padding that centres ``h x w`` in ``size``.

    Same convention as ``saunet.data.transforms.pad_to_size``: the extra pixel of an odd
    padding goes to the bottom/right.
    """
    th, tw = int(size[0]), int(size[1])
    if th < h or tw < w:
        raise ValueError(f"image {h}x{w} is larger than pad_to {th}x{tw}")
    top, left = (th - h) // 2, (tw - w) // 2
    return top, th - h - top, left, tw - w - left


def _to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    arr = np.stack([np.asarray(im, dtype=np.float32) for im in images])
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"images must be HxWx3 arrays, got batch of shape {arr.shape}")
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


@torch.inference_mode()
def predict_batch(
    model: nn.Module,
    images: Sequence[np.ndarray],
    *,
    pad_to: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    amp_dtype: torch.dtype | None = None,
    tta: bool = False,
    channels_last: bool = True,
) -> np.ndarray:
    """Vessel probabilities of equally sized images, ``(N, H, W)`` float32 in [0, 1].

    Args:
        model: a :class:`saunet.models.UNet` (or any module mapping ``(N, 3, H, W)`` to
            ``(N, 1, H, W)`` logits); it is put in eval mode on ``device``.
        images: ``N`` arrays ``(H, W, 3)``, float in [0, 1] (RGB / 255, Sec. III-A).
        pad_to: zero-pad symmetrically to this ``(H, W)`` before the forward pass and crop
            the output back (paper: 592x592 DRIVE, 1008x1008 CHASE_DB1, :data:`PAPER_PAD`).
        device: torch device for the forward pass.
        amp_dtype: autocast dtype (``torch.float16``/``torch.bfloat16``), None for fp32.
        tta: average the probabilities of the identity, horizontal, vertical and both
            flips (the flips of the training augmentation).
        channels_last: use the channels-last memory format (faster convolutions).
    """
    device = torch.device(device)
    model = model.to(device).eval()
    x = _to_tensor(images)
    n, _, h, w = x.shape
    top = left = 0
    if pad_to is not None:
        top, bottom, left, right = _pad_offsets(h, w, pad_to)
        x = F.pad(x, (left, right, top, bottom))
    x = x.to(device)
    flips: list[tuple[int, ...]] = [()]
    if tta:
        flips += [(3,), (2,), (2, 3)]
    batch = torch.cat([x.flip(d) if d else x for d in flips])
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        batch = batch.contiguous(memory_format=torch.channels_last)
    with autocast(device, amp_dtype):
        logits = model(batch)
    probs = torch.sigmoid(logits.float())[:, 0]
    chunks = probs.split(n)
    out = sum(
        c.flip([d - 1 for d in dims]) if dims else c for c, dims in zip(chunks, flips, strict=True)
    )
    out = out / len(flips)
    out = out[:, top : top + h, left : left + w]
    return out.cpu().numpy().astype(np.float32, copy=False)


def predict_probabilities(
    model: nn.Module,
    image: np.ndarray,
    *,
    pad_to: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    amp_dtype: torch.dtype | None = None,
    tta: bool = False,
    channels_last: bool = True,
) -> np.ndarray:
    """Vessel probability map ``(H, W)`` float32 of one ``(H, W, 3)`` image in [0, 1].

    See :func:`predict_batch` for the arguments.
    """
    return predict_batch(
        model,
        [image],
        pad_to=pad_to,
        device=device,
        amp_dtype=amp_dtype,
        tta=tta,
        channels_last=channels_last,
    )[0]
