"""Bilinear resampling of photographs, maps and masks (Pillow), shared by training and inference.

Pillow's bilinear filter widens its support when shrinking, so every function here
antialiases on the way down. Sizes are ``(h, w)``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["resize_plane", "resize_image", "resize_map"]


def resize_plane(plane: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one ``(H, W)`` plane to ``hw``, as float32 (values not clipped)."""
    im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(im.resize((hw[1], hw[0]), Image.BILINEAR), dtype=np.float32)


def resize_image(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased) resize of ``(H, W, C)`` float32 to ``hw``; ``(h, w, C)`` in [0, 1]."""
    if tuple(image.shape[:2]) == tuple(hw):
        return image
    out = np.empty((hw[0], hw[1], image.shape[2]), dtype=np.float32)
    for c in range(image.shape[2]):
        out[:, :, c] = resize_plane(image[:, :, c], hw)
    return np.clip(out, 0.0, 1.0, out=out)


def resize_map(prob: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a probability map ``(h, w)`` to ``hw``; values stay in [0, 1]."""
    if tuple(prob.shape) == tuple(hw):
        return prob
    return np.clip(resize_plane(prob, hw), 0.0, 1.0)
