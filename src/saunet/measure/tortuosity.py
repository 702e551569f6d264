"""Tortuosity of vessel segments: distance measure and tortuosity density (Grisan et al. 2008).

All lengths are in pixels, measured on the smoothed centreline of each segment
(:class:`saunet.measure.skeleton.Segment`, end extensions included).

* **Distance measure** (arc over chord) of one segment: ``L / C``, with ``L`` the arc length
  and ``C`` the straight distance between its ends; 1 for a straight segment. Undefined
  (None) when ``C`` < :data:`MIN_CHORD_PX` = 1 px (a closed loop, or a path that leaves a
  branch point and comes back to it). The image value is the length-weighted mean over
  the segments where it is defined: ``sum(L_i * t_i) / sum(L_i)``.
* **Tortuosity density** (Grisan, Foracchia, Ruggeri, IEEE TMI 27(3):310-319, 2008) of one
  segment of length ``L_c`` cut at its ``n - 1`` inflection points into ``n`` turns of arc
  ``L_i`` and chord ``C_i``::

      TD = (n - 1) / n * (1 / L_c) * sum_i (L_i / C_i - 1)        [1/px]

  A straight segment or a single bend (n = 1) has ``TD = 0``; the measure grows with the
  number of turns and with how much each turn bends. Inflection points are sign changes of
  the signed curvature of the centreline smoothed further (Gaussian, :data:`CURVATURE_SIGMA_PX`
  = 4 px along the path), with hysteresis: the sign only flips once ``|curvature|`` exceeds
  :data:`MIN_CURVATURE` = 0.01 rad/px (radius of curvature 100 px), so pixel noise on a
  straight vessel makes no turns. The image value is the length-weighted mean over segments
  that are not loops; undefined when there are none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from saunet.measure.skeleton import Segment, path_length, smooth_path

__all__ = [
    "CURVATURE_SIGMA_PX",
    "MIN_CURVATURE",
    "MIN_CHORD_PX",
    "arc_chord",
    "signed_curvature",
    "inflections",
    "segment_tortuosity_density",
    "weighted_mean",
    "segment_measures",
]

#: Shortest chord (px) for which arc/chord is defined.
MIN_CHORD_PX = 1.0
#: Extra smoothing (px along the path) before curvature is taken: pixel staircases have a
#: period of a few px, vessel bends tens of px.
CURVATURE_SIGMA_PX = 4.0
#: Curvature (rad/px) the sign must exceed before a new turn begins.
MIN_CURVATURE = 0.01


def arc_chord(points: np.ndarray) -> float | None:
    """Arc length over chord of an open ``(N, 2)`` path; None when the chord is < 1 px."""
    p = np.asarray(points, dtype=float)
    if len(p) < 2:
        return None
    chord = float(np.hypot(*(p[-1] - p[0])))
    return path_length(p) / chord if chord >= MIN_CHORD_PX else None


def signed_curvature(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curvature (rad/px) between successive steps and the arc position (px) of each value.

    ``kappa_i = (heading_{i+1} - heading_i) / ((step_i + step_{i+1}) / 2)``, headings unwrapped,
    on ``points`` smoothed by :data:`CURVATURE_SIGMA_PX`. Empty arrays for fewer than 3 points.
    """
    p = smooth_path(np.asarray(points, dtype=float), CURVATURE_SIGMA_PX)
    d = np.diff(p, axis=0)
    step = np.hypot(d[:, 0], d[:, 1])
    keep = step > 1e-9
    d, step = d[keep], step[keep]
    if len(d) < 2:
        return np.zeros(0), np.zeros(0)
    heading = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    ds = 0.5 * (step[:-1] + step[1:])
    s = np.cumsum(step)[:-1]
    return np.diff(heading) / ds, s


def inflections(points: np.ndarray, min_curvature: float = MIN_CURVATURE) -> list[int]:
    """Indices into ``points`` where the bend changes side (hysteresis: module docstring)."""
    p = np.asarray(points, dtype=float)
    kappa, s = signed_curvature(p)
    if len(kappa) == 0:
        return []
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    strong = np.flatnonzero(np.abs(kappa) >= min_curvature)
    if len(strong) < 2:
        return []
    signs = np.sign(kappa[strong])
    flips = np.flatnonzero(signs[1:] != signs[:-1])
    cuts = []
    for f in flips:
        # Cut where the curvature last crossed zero between the two strong turns.
        a, b = strong[f], strong[f + 1]
        seg = kappa[a : b + 1]
        z = a + int(np.flatnonzero(np.sign(seg[1:]) != np.sign(seg[:-1]))[-1])
        cuts.append(int(np.clip(np.searchsorted(arc, s[z]), 1, len(p) - 2)))
    return cuts


def segment_tortuosity_density(points: np.ndarray) -> float | None:
    """Grisan's TD (1/px) of one open path; None when its length is 0 (module docstring)."""
    p = np.asarray(points, dtype=float)
    total = path_length(p)
    if total <= 0:
        return None
    cuts = inflections(p)
    if not cuts:
        return 0.0
    bounds = [0, *cuts, len(p) - 1]
    terms = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        t = arc_chord(p[a : b + 1])
        if t is not None:
            terms.append(t - 1.0)
    n = len(bounds) - 1
    return (n - 1) / n * sum(terms) / total


def weighted_mean(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """``sum(w v) / sum(w)`` over the defined values; None when no weight remains."""
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None and w > 0]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def segment_measures(seg: Segment) -> tuple[float | None, float | None]:
    """``(arc/chord, TD)`` of a segment; both None for a loop."""
    if seg.ends[0] == "loop":
        return None, None
    return arc_chord(seg.points), segment_tortuosity_density(seg.points)
