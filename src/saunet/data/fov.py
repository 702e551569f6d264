"""Field-of-view (FOV) estimation for fundus images that come without a mask.

Method (deterministic, no learned parameters), on the luminance
``Y = 0.299 R + 0.587 G + 0.114 B``:

1. background level ``b`` = median of ``Y`` in the four corner squares (side ``min(H, W) / 20``;
   fundus cameras image a disc, so the corners lie outside it); foreground level ``f`` =
   median of ``Y`` in the central half of the image;
2. threshold ``Y > b + 0.1 (f - b)``; this follows the dim rim of the disc, where a fixed
   threshold fails on images with a bright background glow (DRIVE) or a dark fundus;
3. binary opening with a square of side ``2 s + 1``, ``s = min(H, W) // 100`` (removes the
   thin bright specks and text of the camera overlay);
4. keep the largest connected component, then fill its holes (dark lesions, the fovea).

Against the masks shipped with DRIVE and CHASE_DB1 this gives IoU >= 0.99 on every one of the
68 images (tested in ``tests/data``). If the image is uniformly bright (no dark border), the
whole image is returned.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["estimate_fov", "fov_diameter"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def estimate_fov(image: np.ndarray, *, fraction: float = 0.1) -> np.ndarray:
    """Estimate the field of view of a fundus image.

    Args:
        image: ``(H, W, 3)`` float in ``[0, 1]`` (or ``(H, W)`` grayscale).
        fraction: threshold position between background and foreground levels.

    Returns:
        ``bool (H, W)``, True inside the FOV.
    """
    img = np.asarray(image, dtype=np.float32)
    y = img @ _LUMA if img.ndim == 3 else img
    h, w = y.shape
    k = max(4, min(h, w) // 20)
    corners = np.concatenate(
        [y[:k, :k].ravel(), y[:k, -k:].ravel(), y[-k:, :k].ravel(), y[-k:, -k:].ravel()]
    )
    bg = float(np.median(corners))
    fg = float(np.median(y[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]))
    if fg - bg < 0.02:  # no dark border to separate: treat the whole image as FOV
        return np.ones((h, w), dtype=bool)
    mask = y > bg + fraction * (fg - bg)
    s = max(1, min(h, w) // 100)
    # Opening = min filter then max filter (separable, so fast on 1000x1000 images).
    size = 2 * s + 1
    mask = ndi.maximum_filter(ndi.minimum_filter(mask, size=size, mode="nearest"), size=size)
    labels, n = ndi.label(mask)
    if n == 0:
        return np.ones((h, w), dtype=bool)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(sizes.argmax())
    return fill_holes(mask)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region that does not reach the border filled.

    The same result as ``scipy.ndimage.binary_fill_holes`` (4-connected background), from
    one labelling instead of an iterated dilation: 3-4x faster on a DRIVE-size image.
    """
    labels, n = ndi.label(~mask)
    outside = np.zeros(n + 1, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[edge] = True
    outside[0] = False  # label 0 is the mask itself
    return ~outside[labels]


def fov_diameter(fov: np.ndarray) -> float | None:
    """FOV diameter in px: the larger side of the bounding box of the FOV's largest component.

    Specks of a hand-made mask are ignored (largest connected component only). The larger
    side is the diameter for discs cropped at the top and bottom (common) or at the sides.
    Returns None when the FOV is empty or touches all four image borders (diameter unknown).

    Args:
        fov: ``bool (H, W)``.
    """
    fov = np.asarray(fov, dtype=bool)
    if fov.ndim != 2 or not fov.any():
        return None
    labels, n = ndi.label(fov)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        fov = labels == int(sizes.argmax())
    del labels
    rows, cols = np.flatnonzero(fov.any(axis=1)), np.flatnonzero(fov.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = fov.shape
    if y0 == 0 and x0 == 0 and y1 == h and x1 == w:
        return None
    return float(max(y1 - y0, x1 - x0))
