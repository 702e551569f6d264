"""Tiled inference: whole-image probability maps in bounded memory.

The image is zero-padded (virtually: windows are cut with zero fill, no padded copy of the
image is made) to a multiple of the network's divisor exactly like
:meth:`saunet.models.UNet.forward` pads it, and cut into square windows of side ``tile``
whose corners lie on multiples of the divisor, so the pooling grid of every window is the
one of the whole image. Neighbouring windows overlap by at least ``2 * margin`` pixels and
each pixel is taken from the window whose border is farthest away (centre-crop stitching,
the seam lies in the middle of the overlap). For a network whose receptive field reaches
less than ``margin`` pixels the stitched map equals the whole-image map up to float
rounding; SA-UNet's effective field is much smaller than its theoretical one, so the
default margin of 64 px leaves no visible seams.

Images whose padded size fits one window are predicted in a single forward pass, i.e.
exactly like :func:`saunet.inference.predictor.predict_probabilities`. Peak memory is that of one
``tile x tile`` forward pass plus the image and the output map.

A *predictor* is any callable mapping ``(N, 3, h, w)`` float32 (``h``, ``w`` multiples of
the divisor) to ``(N, h, w)`` float32 probabilities: the PyTorch and the ONNX backends of
:mod:`saunet.inference.segmenter` both are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Predictor", "FLIPS", "window_starts", "predict_tiled", "predict_window"]

Predictor = Callable[[np.ndarray], np.ndarray]

#: Test-time augmentation: identity, horizontal, vertical and both flips (axes of ``(h, w)``).
FLIPS: tuple[tuple[int, ...], ...] = ((), (1,), (0,), (0, 1))


def window_starts(length: int, window: int, margin: int, divisor: int) -> list[int]:
    """Start offsets of windows of size ``window`` covering ``[0, length)``.

    ``length`` and ``window`` are multiples of ``divisor``; consecutive windows advance by
    ``window - 2 * margin`` rounded down to the divisor and the last window ends at
    ``length``, so all starts are multiples of ``divisor``.
    """
    if window >= length:
        return [0]
    step = max(divisor, (window - 2 * margin) // divisor * divisor)
    starts = list(range(0, length - window, step))
    starts.append(length - window)
    return starts


def _bounds(starts: list[int], window: int, length: int) -> list[tuple[int, int]]:
    """Output range owned by each window: split in the middle of each overlap."""
    cuts = [0]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        cuts.append((b + a + window) // 2)
    cuts.append(length)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _cut(image: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """Window ``(h, w, C)`` at ``(y0, x0)`` of ``image``, zero outside it (y0, x0 may be < 0)."""
    out = np.zeros((h, w, image.shape[2]), dtype=np.float32)
    H, W = image.shape[:2]
    sy0, sx0 = max(0, y0), max(0, x0)
    sy1, sx1 = min(H, y0 + h), min(W, x0 + w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def predict_window(predict: Predictor, window: np.ndarray, tta: bool = False) -> np.ndarray:
    """Probabilities ``(h, w)`` of one ``(h, w, 3)`` window, averaged over flips if ``tta``.

    Flips run one after the other (not as a batch of four) to keep memory at one pass.
    """
    x = np.ascontiguousarray(window.transpose(2, 0, 1)[None], dtype=np.float32)
    if not tta:
        return predict(x)[0]
    acc = np.zeros(window.shape[:2], dtype=np.float32)
    for axes in FLIPS:
        dims = tuple(a + 2 for a in axes)
        xi = np.ascontiguousarray(np.flip(x, dims)) if axes else x
        p = predict(xi)[0]
        acc += np.flip(p, axes) if axes else p
    return acc / len(FLIPS)


def predict_tiled(
    predict: Predictor,
    image: np.ndarray,
    *,
    tile: int = 1024,
    margin: int = 64,
    divisor: int = 8,
    tta: bool = False,
) -> np.ndarray:
    """Vessel probabilities ``(H, W)`` float32 of an ``(H, W, 3)`` float32 image.

    Args:
        predict: the predictor (module docstring).
        image: ``(H, W, 3)`` float32 in [0, 1].
        tile: window side in px (rounded down to the divisor); 0 or less: one window
            for the whole image, however large.
        margin: context kept around the part of each window that is used.
        divisor: the network's size divisor (``UNet.divisor``, 8 for SA-UNet).
        tta: average over flips (:data:`FLIPS`), per window.
    """
    H, W = image.shape[:2]
    ph, pw = (-H) % divisor, (-W) % divisor
    top, left = ph // 2, pw // 2  # same convention as saunet.models.pad_to_multiple
    Hp, Wp = H + ph, W + pw
    if tile <= 0:
        tile = max(Hp, Wp)
    tile = max(divisor, tile // divisor * divisor)
    margin = min(max(0, margin), max(0, (tile - divisor) // 2))
    th, tw = min(tile, Hp), min(tile, Wp)
    ys, xs = window_starts(Hp, th, margin, divisor), window_starts(Wp, tw, margin, divisor)
    out = np.empty((H, W), dtype=np.float32)
    for wy, (oy0, oy1) in zip(ys, _bounds(ys, th, Hp), strict=True):
        for wx, (ox0, ox1) in zip(xs, _bounds(xs, tw, Wp), strict=True):
            win = _cut(image, wy - top, wx - left, th, tw)
            prob = predict_window(predict, win, tta)
            # owned range in padded coordinates -> clip to the image
            ry0, ry1 = max(oy0, top), min(oy1, top + H)
            rx0, rx1 = max(ox0, left), min(ox1, left + W)
            if ry1 <= ry0 or rx1 <= rx0:
                continue
            out[ry0 - top : ry1 - top, rx0 - left : rx1 - left] = prob[
                ry0 - wy : ry1 - wy, rx0 - wx : rx1 - wx
            ]
    return out
