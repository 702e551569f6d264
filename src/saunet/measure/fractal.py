"""Fractal (box-counting) dimension of a vessel mask.

The image is covered by a grid of square boxes of side ``s`` anchored at one corner (the
last row and column of boxes may extend past the border); ``N(s)`` is the number of boxes
holding at least one vessel pixel, averaged over the grids anchored at the four corners.
The average makes the result exactly invariant under flips and quarter turns; one grid
alone moved the dimension of phantoms by up to 4% under a half turn. The dimension is the least-squares slope of
``log N(s)`` against ``log(1 / s)`` over the box sizes

    s = 2, 4, 8, ..., the largest power of two <= min(H, W) / 4

(2 to 128 px on a 565 x 584 DRIVE image, 2 to 128 px on a 999 x 960 CHASE_DB1 image). A
line gives 1, a filled area 2; retinal vessel trees lie near 1.4-1.7. Sizes where
``N(s) = 0`` are left out; undefined (None) when the mask is empty or fewer than two sizes
remain.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_sizes", "box_counts", "corner_mean_counts", "fractal_dimension"]


def box_sizes(shape: tuple[int, int]) -> list[int]:
    """Powers of two from 2 up to ``min(H, W) / 4`` (px)."""
    top = min(shape) / 4
    sizes, s = [], 2
    while s <= top:
        sizes.append(s)
        s *= 2
    return sizes


def box_counts(mask: np.ndarray, sizes: list[int]) -> list[int]:
    """Number of ``s x s`` boxes of the grid anchored at the top-left corner that hold a
    vessel pixel, for each size ``s`` (powers of two, ascending)."""
    boxes = np.asarray(mask, dtype=bool)
    out, s = [], 1
    for size in sizes:
        # A box of side 2s is the union of 2 x 2 boxes of side s of the same grid.
        while s < size:
            h, w = boxes.shape
            boxes = np.pad(boxes, ((0, h % 2), (0, w % 2)))
            boxes = boxes.reshape(boxes.shape[0] // 2, 2, boxes.shape[1] // 2, 2).any(axis=(1, 3))
            s *= 2
        if s != size:
            raise ValueError(f"box sizes must be ascending powers of two, got {sizes}")
        out.append(int(boxes.sum()))
    return out


def corner_mean_counts(mask: np.ndarray, sizes: list[int]) -> list[float]:
    """:func:`box_counts` averaged over the grids anchored at the four corners."""
    m = np.asarray(mask, dtype=bool)
    views = (m, m[::-1], m[:, ::-1], m[::-1, ::-1])
    return list(np.mean([box_counts(v, sizes) for v in views], axis=0))


def fractal_dimension(mask: np.ndarray, sizes: list[int] | None = None) -> float | None:
    """Box-counting dimension (dimensionless; module docstring); None when undefined."""
    m = np.asarray(mask, dtype=bool)
    sizes = box_sizes(m.shape) if sizes is None else sizes
    counts = corner_mean_counts(m, sizes)
    pairs = [(s, n) for s, n in zip(sizes, counts, strict=True) if n > 0]
    if len(pairs) < 2:
        return None
    x = np.log([1.0 / s for s, _ in pairs])
    y = np.log([n for _, n in pairs])
    return float(np.polyfit(x, y, 1)[0])
