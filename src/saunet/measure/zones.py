"""Measurement zones around the optic disc: rings in units of the disc radius.

Following the convention of retinal vessel calibre studies (Knudtson et al. 2003; Wong et
al. 2004) as AutoMorph implements it, with the disc centre ``(x, y)`` and radius ``r`` in px:

* **zone B**: the ring ``2 r <= d < 3 r``, with ``d`` the distance of a pixel centre from the
  disc centre;
* **zone C**: the ring ``2 r <= d < 5 r`` (zone B is part of it).

Zone measures are taken inside the ring and the FOV only:

* density = vessel pixels / FOV pixels in the ring; undefined (None) when the ring holds no
  FOV pixel;
* mean width (px) = vessel area in the ring / centreline length in the ring, where a step
  of a segment's centreline counts when its midpoint lies in the ring; undefined when that
  length is 0.

Every zone measure is undefined when there is no disc, or when its centre lies outside the
FOV (a disc outside the picture cannot anchor the rings reliably).
"""

from __future__ import annotations

import numpy as np

from saunet.measure.calibre import mean_width
from saunet.measure.skeleton import Segment

__all__ = ["ZONES", "ring_mask", "in_ring", "zone_of", "zone_measures"]

#: Zone name -> (inner, outer) radius in disc radii.
ZONES = {"b": (2.0, 3.0), "c": (2.0, 5.0)}


def ring_mask(shape: tuple[int, int], x: float, y: float, inner: float, outer: float):
    """``bool shape``: pixel centres at distance ``inner <= d < outer`` (px) from ``(x, y)``."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    d2 = (cols - x) ** 2 + (rows - y) ** 2
    return (d2 >= inner**2) & (d2 < outer**2)


def in_ring(points: np.ndarray, x: float, y: float, inner: float, outer: float) -> np.ndarray:
    """``bool (N,)``: which ``(row, col)`` points lie at ``inner <= d < outer`` from ``(x, y)``."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    d = np.hypot(p[:, 1] - x, p[:, 0] - y)
    return (d >= inner) & (d < outer)


def zone_of(point: np.ndarray, x: float, y: float, r: float) -> str:
    """Where a ``(row, col)`` point lies: ``disc`` (< 2 r), ``B`` (2-3 r), ``C`` (3-5 r, the
    part of zone C outside zone B) or ``outer`` (>= 5 r)."""
    d = float(np.hypot(point[1] - x, point[0] - y)) / r
    return "disc" if d < 2 else "B" if d < 3 else "C" if d < 5 else "outer"


def zone_measures(
    mask: np.ndarray,
    fov: np.ndarray,
    segments: list[Segment],
    x: float,
    y: float,
    r: float,
) -> dict[str, float | None]:
    """``zone_{b,c}_density`` and ``zone_{b,c}_mean_width_px`` (module docstring).

    Args:
        mask: ``bool (H, W)`` vessels; fov: ``bool (H, W)``; segments: the skeleton's
            segments; x, y, r: disc centre (column, row) and radius in px.
    """
    mask = np.asarray(mask, dtype=bool)
    fov = np.asarray(fov, dtype=bool)
    out: dict[str, float | None] = {}
    h, w = fov.shape
    xi, yi = int(round(x)), int(round(y))
    usable = r > 0 and 0 <= xi < w and 0 <= yi < h and bool(fov[yi, xi])
    mids = [0.5 * (s.points[1:] + s.points[:-1]) for s in segments if len(s.points) > 1]
    steps = [np.hypot(*np.diff(s.points, axis=0).T) for s in segments if len(s.points) > 1]
    mid = np.concatenate(mids) if mids else np.zeros((0, 2))
    step = np.concatenate(steps) if steps else np.zeros(0)
    for name, (a, b) in ZONES.items():
        if not usable:
            out[f"zone_{name}_density"] = out[f"zone_{name}_mean_width_px"] = None
            continue
        ring = ring_mask(fov.shape, x, y, a * r, b * r) & fov
        n = int(ring.sum())
        area = int((ring & mask).sum())
        out[f"zone_{name}_density"] = area / n if n else None
        length = float(step[in_ring(mid, x, y, a * r, b * r)].sum())
        out[f"zone_{name}_mean_width_px"] = mean_width(area, length)
    return out
