"""Vessel calibre from a binary mask: mean width as area over centreline length.

For a tube of width ``w`` and length ``L`` the area is ``w L``, so ``area / length`` is its
width whatever its shape; over a vessel tree it is the length-weighted mean width (the
definition AutoMorph reports as average width). Units: px (multiply by um/px for um).

Per segment, every vessel pixel is given to its nearest skeleton pixel (Euclidean distance
transform of the skeleton's complement) and the segment's width is the area of its pixels
over its length. Pixels nearest to a branch point's junction pixels belong to no segment,
so segment widths near a fork use slightly less than all of the area.

Undefined (None) when the length is 0 (no skeleton).

**From a probability map** (:func:`fwhm_width`): a threshold chosen for F1 moves every
vessel edge by the same fraction of the profile, which biases the area, so the width can
instead be read across the vessel on the map itself: at each centreline point the map is
sampled along the normal (bilinear, 0.25 px steps, out to :data:`FWHM_REACH_PX`), the peak
is the largest value within 2 px of the centre, and the width is the distance between the
first points on either side where the profile falls below half the peak (full width at
half maximum, linearly interpolated). Points whose profile never falls below half within
the reach, or whose peak is below :data:`FWHM_MIN_PEAK`, are skipped; the image value is
the mean over the remaining points (spaced about 1 px along the centreline, so a
length-weighted mean). Undefined when no point remains.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from saunet.measure.skeleton import Segment

__all__ = ["FWHM_REACH_PX", "FWHM_MIN_PEAK", "mean_width", "segment_widths", "fwhm_width"]

#: How far (px) the profile is sampled on each side of the centreline.
FWHM_REACH_PX = 12.0
#: Profiles whose peak is below this probability are not vessels enough to measure.
FWHM_MIN_PEAK = 0.2


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


def _first_below(profile: np.ndarray, half: np.ndarray, step: float) -> np.ndarray:
    """Distance (px) from index 0 to the first crossing below ``half`` per row; NaN if none."""
    below = profile < half[:, None]
    hit = below.any(axis=1)
    i = np.where(hit, below.argmax(axis=1), 1)
    i = np.maximum(i, 1)
    rows = np.arange(len(profile))
    a, b = profile[rows, i - 1], profile[rows, i]
    frac = np.where(a != b, (a - half) / np.where(a != b, a - b, 1.0), 0.0)
    return np.where(hit, (i - 1 + np.clip(frac, 0, 1)) * step, np.nan)


def fwhm_width(
    prob: np.ndarray, segments: list[Segment], reach: float = FWHM_REACH_PX
) -> float | None:
    """Mean full width at half maximum (px) across the centrelines (module docstring).

    Args:
        prob: ``float (H, W)`` vessel probability in [0, 1].
        segments: centreline segments (:func:`saunet.measure.skeleton.skeleton_graph`).
        reach: sampling distance on each side of the centreline (px).
    """
    pts, normals = [], []
    for seg in segments:
        p = seg.points
        if len(p) < 3:
            continue
        t = np.gradient(p, axis=0)
        norm = np.hypot(t[:, 0], t[:, 1])
        ok = norm > 1e-9
        pts.append(p[ok])
        normals.append(np.stack([-t[ok, 1], t[ok, 0]], axis=1) / norm[ok, None])
    if not pts:
        return None
    p, n = np.concatenate(pts), np.concatenate(normals)
    step = 0.25
    offsets = np.arange(0.0, reach + step / 2, step)
    sides = []
    for sign in (1.0, -1.0):
        coords = p[:, :, None] + sign * n[:, :, None] * offsets[None, None, :]
        prof = ndi.map_coordinates(
            np.asarray(prob, dtype=np.float32), [coords[:, 0], coords[:, 1]], order=1,
            mode="nearest",
        )  # fmt: skip
        sides.append(prof)
    centre = int(round(2.0 / step)) + 1
    peak = np.maximum(sides[0][:, :centre].max(axis=1), sides[1][:, :centre].max(axis=1))
    half = peak / 2
    widths = _first_below(sides[0], half, step) + _first_below(sides[1], half, step)
    widths = widths[(peak >= FWHM_MIN_PEAK) & np.isfinite(widths)]
    return float(widths.mean()) if len(widths) else None
