"""Vessel phantoms with analytic answers: curves drawn as tubes of a given width.

A tube is the set of pixel centres within ``width / 2`` of a densely sampled centreline
whose nearest centreline sample is not an end sample, i.e. a tube with flat ends exactly at
the centreline's ends. Curves are given as ``(row, col)`` points and can be rotated about
the image centre before drawing, so a rotated phantom is a new drawing, not a resampled
picture.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

STEP = 0.05  # centreline sampling (px)


def rotate(points: np.ndarray, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Rotate ``(N, 2)`` ``(row, col)`` points by ``angle_deg`` about ``centre``."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.asarray(centre, dtype=float)
    return (np.asarray(points, dtype=float) - c) @ rot.T + c


def draw(
    curves: list[np.ndarray],
    width: float,
    shape: tuple[int, int],
    joins: list[tuple[float, float]] = (),
) -> np.ndarray:
    """``bool shape``: union of flat-ended tubes of ``width`` px around each curve, plus a
    disc of the same width at each join point (a round fork, as vessels have)."""
    h, w = shape
    rr, cc = np.mgrid[0:h, 0:w]
    pix = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(float)
    out = np.zeros(h * w, dtype=bool)
    for curve in curves:
        tree = cKDTree(curve)
        d, i = tree.query(pix, distance_upper_bound=width)
        inside = (d <= width / 2) & (i > 0) & (i < len(curve) - 1)
        out |= inside
    for j in joins:
        out |= np.hypot(pix[:, 0] - j[0], pix[:, 1] - j[1]) <= width / 2
    return out.reshape(h, w)


def line(p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Densely sampled straight centreline from ``p0`` to ``p1``."""
    p0a, p1a = np.asarray(p0, float), np.asarray(p1, float)
    n = int(np.ceil(np.hypot(*(p1a - p0a)) / STEP)) + 1
    t = np.linspace(0.0, 1.0, n)[:, None]
    return p0a + t * (p1a - p0a)


def sinusoid(row0: float, col0: float, amplitude: float, period: float, periods: float):
    """``row = row0 + A sin(2 pi (col - col0) / P)`` for ``col`` in ``[col0, col0 + n P]``."""
    cols = np.arange(0.0, periods * period + STEP / 2, STEP / 4)
    rows = amplitude * np.sin(2 * np.pi * cols / period)
    return np.stack([row0 + rows, col0 + cols], axis=1)


def sinusoid_arc(amplitude: float, period: float, periods: float) -> float:
    """Arc length of :func:`sinusoid` by numerical integration of ``sqrt(1 + y'^2)``."""
    x = np.linspace(0.0, periods * period, 200_001)
    dy = amplitude * 2 * np.pi / period * np.cos(2 * np.pi * x / period)
    return float(np.trapezoid(np.sqrt(1 + dy**2), x))


def arc(centre: tuple[float, float], radius: float, a0_deg: float, a1_deg: float):
    """Circle arc of ``radius`` about ``centre`` from angle ``a0`` to ``a1`` (degrees)."""
    n = int(np.ceil(radius * np.deg2rad(abs(a1_deg - a0_deg)) / STEP)) + 1
    a = np.deg2rad(np.linspace(a0_deg, a1_deg, n))
    return np.stack([centre[0] + radius * np.sin(a), centre[1] + radius * np.cos(a)], axis=1)
