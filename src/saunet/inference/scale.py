"""Resolution policy: bring a fundus photograph to the scale the weights were trained at.

A network trained on DRIVE has seen vessels of a certain calibre in pixels; an image from
another camera (larger sensor, other field angle) shows the same vessels at another calibre.
``saunet segment`` therefore resizes every image by a factor ``s`` before the forward pass
and resizes the probability map back (bilinear) to the original size.

Rule (``--scale auto``, :func:`choose_scale`)::

    d      = FOV diameter of the input in px      (fov_diameter: larger side of the bounding
                                                    box of the FOV's largest component,
                                                    right for discs cropped at top/bottom)
    D      = the weights' training FOV diameter   (meta["scale"]["fov_diameter_px"])
    c      = calibre factor                       (meta["scale"]["calibre_factor"], 1.0)
    a, A   = field angle of the input / of the training camera, degrees (optional)
    s      = D * c / d                            (FOV matching)
    s      = D * c * (a / A) / d                  (calibre matching, when a and A are known)

The FOV diameter is only a proxy for what the network learned, the vessel calibre in
pixels: two cameras with the same FOV diameter in pixels but different field angles (DRIVE
45 deg, CHASE_DB1 30 deg) show vessels at different calibres. With the input's field angle
(``--field-angle``) and the training camera's (``field_angle_deg``) the rule matches pixels
per degree of retina instead, i.e. vessel calibre. ``calibre_factor`` is the correction
found by the cross-dataset sweep (``benchmarks/scale_sweep.py``, train splits only) and
stored with the weights.

Then ``s`` is clipped to [:data:`MIN_SCALE`, :data:`MAX_SCALE`] and snapped to 1.0 when
within :data:`SNAP` of it (no resampling blur for images already at the training scale,
e.g. DRIVE images with DRIVE weights). If the FOV touches all four image borders its
diameter cannot be measured and ``s = 1``. ``--scale 1`` disables rescaling; any positive
number is used as the factor.

Metadata read from the checkpoint (defaults when absent: by ``meta["data"]["dataset"]``
from :data:`KNOWN_SCALES`, else no rescaling)::

    "scale": {"fov_diameter_px": 540.0, "field_angle_deg": 45.0, "calibre_factor": 1.0}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saunet.data.calibre import CAMERAS
from saunet.data.fov import fov_diameter
from saunet.data.resample import resize_image, resize_map

__all__ = [
    "KNOWN_SCALES",
    "MIN_SCALE",
    "MAX_SCALE",
    "SNAP",
    "ScaleReference",
    "scale_reference",
    "fov_diameter",
    "training_scale_meta",
    "parse_scale",
    "choose_scale",
    "scaled_size",
    "resize_image",
    "resize_map",
]

log = logging.getLogger(__name__)

#: Training FOV diameters (median over the training masks, :func:`fov_diameter`) and camera
#: field angles of the datasets the shipped weights come from.
KNOWN_SCALES: dict[str, dict[str, float]] = CAMERAS
MIN_SCALE, MAX_SCALE = 0.05, 4.0
#: Factors within this distance of 1 are taken as 1 (no resampling).
SNAP = 0.05


@dataclass(frozen=True)
class ScaleReference:
    """What the weights know about their training scale (see module docstring)."""

    fov_diameter_px: float | None
    field_angle_deg: float | None = None
    calibre_factor: float = 1.0
    source: str = "metadata"


def scale_reference(meta: Mapping[str, Any] | None) -> ScaleReference:
    """Training scale of a checkpoint from ``meta["scale"]``, else from its dataset name."""
    meta = meta or {}
    sc = meta.get("scale") or {}
    dataset = str((meta.get("data") or {}).get("dataset", meta.get("dataset", ""))).lower()
    known = KNOWN_SCALES.get(dataset, {})
    diameter = sc.get("fov_diameter_px", known.get("fov_diameter_px"))
    angle = sc.get("field_angle_deg", known.get("field_angle_deg"))
    source = "metadata" if "fov_diameter_px" in sc else (f"dataset {dataset}" if known else "none")
    return ScaleReference(
        fov_diameter_px=None if diameter is None else float(diameter),
        field_angle_deg=None if angle is None else float(angle),
        calibre_factor=float(sc.get("calibre_factor", 1.0)),
        source=source,
    )


def training_scale_meta(
    fov_masks: Sequence[np.ndarray], field_angle_deg: float | None = None
) -> dict[str, float]:
    """The ``"scale"`` metadata for weights trained on images with these FOV masks."""
    d = [x for x in (fov_diameter(m) for m in fov_masks) if x is not None]
    if not d:
        raise ValueError("no measurable FOV among the training masks")
    out = {"fov_diameter_px": float(np.median(d)), "calibre_factor": 1.0}
    if field_angle_deg is not None:
        out["field_angle_deg"] = float(field_angle_deg)
    return out


def parse_scale(value: str | float | None) -> float | None:
    """``"auto"``/None -> None (policy); a positive number -> that factor."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"scale {value!r}: use auto or a positive number such as 0.5") from None
    if not (np.isfinite(s) and MIN_SCALE <= s <= MAX_SCALE):
        raise ValueError(f"scale {value!r}: must lie in [{MIN_SCALE}, {MAX_SCALE}]")
    return s


def choose_scale(
    fov_mask: np.ndarray,
    weights_meta: Mapping[str, Any] | None,
    override: str | float | None = None,
    *,
    field_angle: float | None = None,
) -> float:
    """Resize factor for an image with this FOV (rule in the module docstring).

    Args:
        fov_mask: ``bool (H, W)`` field of view of the input at its original size.
        weights_meta: checkpoint metadata (``scale``, ``data.dataset``).
        override: None or ``"auto"`` for the policy, else an explicit factor.
        field_angle: camera field angle of the input in degrees, if known.

    Returns:
        ``s``: the network sees the image at ``round(H * s) x round(W * s)``.
    """
    explicit = parse_scale(override)
    if explicit is not None:
        return explicit
    ref = scale_reference(weights_meta)
    if ref.fov_diameter_px is None:
        log.info("weights carry no training scale: image used at its own size (scale 1)")
        return 1.0
    d = fov_diameter(fov_mask)
    if d is None:
        log.info("FOV fills the image, its diameter is unknown: scale 1 (use --scale to set it)")
        return 1.0
    target = ref.fov_diameter_px * ref.calibre_factor
    if field_angle is not None and ref.field_angle_deg:
        target *= float(field_angle) / ref.field_angle_deg
    s = float(np.clip(target / d, MIN_SCALE, MAX_SCALE))
    if abs(s - 1.0) <= SNAP:
        s = 1.0
    return round(s, 4)


def scaled_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(round(H * s), round(W * s))``, at least 1 px each."""
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))
