"""All measures of one image: one row of ``measurements.csv`` and its rows of ``segments.csv``.

The vessel mask is restricted to the field of view first. Undefined values are None (an
empty CSV cell): lengths in mm and widths in um without a scale, widths without centreline,
tortuosity without an open segment, zone measures without a usable disc (:mod:`.zones`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from saunet.measure.calibre import mean_width, segment_widths
from saunet.measure.fractal import fractal_dimension
from saunet.measure.skeleton import MIN_SEGMENT_PX, SkeletonGraph, skeleton_graph
from saunet.measure.tortuosity import segment_measures, weighted_mean
from saunet.measure.zones import zone_measures, zone_of

__all__ = ["MEASUREMENT_FIELDS", "SEGMENT_FIELDS", "DiscLike", "ImageMeasures", "measure_mask"]

#: Columns of ``measurements.csv`` (units in the names; ``status`` is ``ok`` or why not).
MEASUREMENT_FIELDS = (
    "name", "width", "height", "fov_area_px", "um_per_px",
    "vessel_density", "fractal_dimension", "skeleton_length_px", "skeleton_length_mm",
    "mean_width_px", "mean_width_um", "segments", "branch_points", "end_points",
    "tortuosity_distance", "tortuosity_density",
    "disc_x", "disc_y", "disc_radius_px", "disc_source",
    "zone_b_density", "zone_b_mean_width_px", "zone_c_density", "zone_c_mean_width_px",
    "status",
)  # fmt: skip

#: Columns of ``segments.csv``: one row per segment; ``tortuosity`` is arc/chord,
#: ``tortuosity_density`` in 1/px, ``zone`` where the segment's midpoint lies.
SEGMENT_FIELDS = (
    "image", "id", "length_px", "chord_px", "mean_width_px", "tortuosity",
    "tortuosity_density", "zone", "start_x", "start_y", "end_x", "end_y",
)  # fmt: skip


class DiscLike(Protocol):
    """The optic disc as :class:`saunet.measure.disc.Disc` gives it (px, x = column)."""

    x: float
    y: float
    radius: float
    source: str


@dataclass
class ImageMeasures:
    """The measures of one image and what the picture needs to draw them."""

    row: dict[str, Any]
    segment_rows: list[dict[str, Any]]
    graph: SkeletonGraph
    widths: list[float | None]


def _midpoint(points: np.ndarray) -> np.ndarray:
    """The point half-way along a path (by arc length)."""
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    return points[int(np.searchsorted(d, d[-1] / 2))] if len(points) > 1 else points[0]


def _scaled(value: float | None, factor: float | None) -> float | None:
    return None if value is None or factor is None else value * factor


def measure_mask(
    mask: np.ndarray,
    fov: np.ndarray | None = None,
    *,
    name: str = "image",
    disc: DiscLike | None = None,
    um_per_px: float | None = None,
    min_length: float = MIN_SEGMENT_PX,
) -> ImageMeasures:
    """Measure one vessel mask.

    Args:
        mask: ``(H, W)`` vessels, non-zero = vessel.
        fov: ``bool (H, W)`` field of view; the whole image when None.
        name: the ``name`` / ``image`` column.
        disc: optic disc for the zone measures, or None.
        um_per_px: scale for the um and mm columns, or None.
        min_length: minimum terminal segment length (px), :func:`skeleton_graph`.
    """
    mask = np.asarray(mask).astype(bool)
    h, w = mask.shape
    fov = np.ones((h, w), dtype=bool) if fov is None else np.asarray(fov, dtype=bool)
    if fov.shape != mask.shape:
        raise ValueError(f"FOV mask {fov.shape} does not match vessel mask {mask.shape}")
    mask = mask & fov
    fov_area = int(fov.sum())
    area = int(mask.sum())
    graph = skeleton_graph(mask, min_length)
    length = graph.length
    widths = segment_widths(mask, graph.skeleton, graph.segments)
    tort = [segment_measures(s) for s in graph.segments]
    lengths = [s.length for s in graph.segments]
    width_px = mean_width(area, length)
    row: dict[str, Any] = {
        "name": name, "width": w, "height": h, "fov_area_px": fov_area, "um_per_px": um_per_px,
        "vessel_density": area / fov_area if fov_area else None,
        "fractal_dimension": fractal_dimension(mask),
        "skeleton_length_px": length,
        "skeleton_length_mm": _scaled(length, None if um_per_px is None else um_per_px / 1000),
        "mean_width_px": width_px, "mean_width_um": _scaled(width_px, um_per_px),
        "segments": len(graph.segments), "branch_points": len(graph.branch_points),
        "end_points": len(graph.end_points),
        "tortuosity_distance": weighted_mean([t[0] for t in tort], lengths),
        "tortuosity_density": weighted_mean([t[1] for t in tort], lengths),
        "disc_x": None, "disc_y": None, "disc_radius_px": None, "disc_source": "none",
        "status": "ok",
    }  # fmt: skip
    zones: dict[str, float | None] = dict.fromkeys(
        ("zone_b_density", "zone_b_mean_width_px", "zone_c_density", "zone_c_mean_width_px")
    )
    if disc is not None:
        row.update(disc_x=disc.x, disc_y=disc.y, disc_radius_px=disc.radius)
        row["disc_source"] = disc.source
        zones = zone_measures(mask, fov, graph.segments, disc.x, disc.y, disc.radius)
    row.update(zones)
    seg_rows = []
    for i, (seg, wd, (t, td)) in enumerate(zip(graph.segments, widths, tort, strict=True), 1):
        p0, p1 = seg.points[0], seg.points[-1]
        zone = None
        if disc is not None and disc.radius > 0:
            zone = zone_of(_midpoint(seg.points), disc.x, disc.y, disc.radius)
        seg_rows.append({
            "image": name, "id": i, "length_px": seg.length, "chord_px": seg.chord,
            "mean_width_px": wd, "tortuosity": t, "tortuosity_density": td, "zone": zone,
            "start_x": p0[1], "start_y": p0[0], "end_x": p1[1], "end_y": p1[0],
        })  # fmt: skip
    return ImageMeasures(row, seg_rows, graph, widths)
