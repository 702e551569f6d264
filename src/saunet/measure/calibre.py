"""Vessel calibre from a binary mask: mean width as area over centreline length.

For a tube of width ``w`` and length ``L`` the area is ``w L``, so ``area / length`` is its
width whatever its shape; over a vessel tree it is the length-weighted mean width (the
definition AutoMorph reports as average width). Units: px (multiply by um/px for um).

Per segment, every vessel pixel is given to its nearest skeleton pixel (Euclidean distance
transform of the skeleton's complement) and the segment's width is the area of its pixels
over its length. Pixels nearest to a branch point's junction pixels belong to no segment,
so segment widths near a fork use slightly less than all of the area.

Undefined (None) when the length is 0 (no skeleton).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from saunet.measure.skeleton import Segment

__all__ = ["mean_width", "segment_widths"]


def mean_width(area_px: float, length_px: float) -> float | None:
    """``area / length`` in px; None when ``length_px <= 0``."""
    return float(area_px) / float(length_px) if length_px > 0 else None


def segment_widths(
    mask: np.ndarray, skeleton: np.ndarray, segments: list[Segment]
) -> list[float | None]:
    """Mean width (px) of each segment: its share of the vessel area over its length.

    Args:
        mask: ``bool (H, W)`` vessels.
        skeleton: ``bool (H, W)`` the skeleton the segments were built from.
        segments: the segments (their ``pixels`` lie on ``skeleton``).

    Returns:
        One width per segment, None where the segment's length is 0.
    """
    mask = np.asarray(mask, dtype=bool)
    if not segments or not skeleton.any():
        return [None] * len(segments)
    owner = np.zeros(mask.shape, dtype=np.int32)  # 0: a junction pixel, no segment
    for i, seg in enumerate(segments, start=1):
        owner[seg.pixels[:, 0], seg.pixels[:, 1]] = i
    _, (ri, ci) = ndi.distance_transform_edt(~skeleton, return_indices=True)
    nearest = owner[ri[mask], ci[mask]]
    area = np.bincount(nearest, minlength=len(segments) + 1)
    return [mean_width(area[i], seg.length) for i, seg in enumerate(segments, start=1)]
