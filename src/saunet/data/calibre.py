"""Bring photographs from different cameras to one vessel calibre before training.

A vessel of a given width on the retina spans more pixels on a camera with a larger sensor
or a narrower field angle. The calibre of a photograph is measured here in **pixels per
degree of retina** (px/deg)::

    ppd = d / a        d = FOV diameter in px (:func:`saunet.data.fov.fov_diameter`)
                       a = the camera's field angle in degrees

DRIVE (Canon CR5, 45 deg, FOV 540 px) sits at 12 px/deg, CHASE_DB1 (Nidek NM-200-D, 30 deg,
FOV 919 px) at 30.6 px/deg: the same vessel is 2.5 times wider in CHASE_DB1. Training the
``general`` weights on both resizes every photograph by ``target_ppd / ppd`` first, so the
network sees one calibre, and the random zoom of the patch sampler
(:class:`saunet.training.batches.TrainingData`, ``data.zoom``) then spreads it again.

Labels and masks are resampled by bilinear interpolation and thresholded at 0.5, so they
stay binary and a vessel keeps its width in proportion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saunet.data.fov import fov_diameter
from saunet.data.resample import resize_image, resize_plane
from saunet.errors import UserError

__all__ = [
    "CAMERAS",
    "REFERENCE_FIELD_ANGLE",
    "px_per_degree",
    "resize_sample",
    "to_calibre",
    "calibre_scale_meta",
]

#: The cameras of the datasets saunet knows: median FOV diameter of the training masks (px)
#: and field angle (degrees).
CAMERAS: dict[str, dict[str, float]] = {
    "drive": {"fov_diameter_px": 540.0, "field_angle_deg": 45.0},  # Canon CR5
    "chase": {"fov_diameter_px": 919.0, "field_angle_deg": 30.0},  # Nidek NM-200-D
}

#: Field angle assumed for a photograph whose camera is unknown: the common 45 degrees.
REFERENCE_FIELD_ANGLE = 45.0

#: Keys of a sample that are masks (resampled and thresholded) rather than images.
_MASKS = ("label", "fov", "second_label")


def px_per_degree(fov: np.ndarray, field_angle_deg: float) -> float | None:
    """Calibre of a photograph in px per degree of retina; None if its FOV is unmeasurable.

    Args:
        fov: ``bool (H, W)`` field of view.
        field_angle_deg: the camera's field angle (> 0).
    """
    d = fov_diameter(fov)
    return None if d is None else d / float(field_angle_deg)


def resize_sample(sample: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of ``sample`` with its image and masks resized by ``factor``.

    ``image`` ``(H, W, 3)`` float in [0, 1] is resampled bilinearly (antialiased when
    shrinking); ``label``, ``fov`` and ``second_label`` ``bool (H, W)`` bilinearly, then
    thresholded at 0.5. ``size`` becomes the new ``(h, w)``; other keys are kept.
    """
    h, w = sample["image"].shape[:2]
    hw = (max(1, round(h * factor)), max(1, round(w * factor)))
    out = dict(sample)
    if hw == (h, w):
        return out
    out["image"] = resize_image(np.asarray(sample["image"], dtype=np.float32), hw)
    for key in _MASKS:
        if sample.get(key) is not None:
            out[key] = resize_plane(sample[key].astype(np.float32), hw) >= 0.5
    out["size"] = hw
    return out


def to_calibre(
    samples: list[dict[str, Any]],
    dataset: str,
    target_ppd: float,
    field_angle_deg: float | None = None,
) -> list[dict[str, Any]]:
    """Resize every sample to ``target_ppd`` px per degree (module docstring).

    Args:
        samples: sample dicts of one camera (``image``, ``label``, ``fov``...).
        dataset: ``drive``, ``chase`` (field angle known) or another name.
        target_ppd: the common calibre, px/deg.
        field_angle_deg: the camera's field angle; required unless ``dataset`` is known.

    Raises:
        UserError: unknown field angle, or a sample whose FOV diameter cannot be measured.
    """
    angle = field_angle_deg or CAMERAS.get(dataset, {}).get("field_angle_deg")
    if not angle:
        raise UserError(
            f"data.px_per_degree needs the camera's field angle for dataset {dataset!r}; "
            f"add data.field_angle_deg=45 (or your camera's angle)"
        )
    out = []
    for s in samples:
        ppd = px_per_degree(s["fov"], angle)
        if ppd is None:
            raise UserError(
                f"{s.get('path', s['name'])}: the field of view fills the image, so its "
                f"calibre is unknown; give a FOV mask or leave data.px_per_degree unset"
            )
        out.append(resize_sample(s, target_ppd / ppd))
    return out


def calibre_scale_meta(target_ppd: float) -> dict[str, float]:
    """The checkpoint's ``"scale"`` metadata for weights trained at ``target_ppd``.

    Expressed as the FOV diameter a 45-degree camera has at that calibre, so that
    :func:`saunet.inference.scale.choose_scale` matches it with or without ``--field-angle``.
    """
    return {
        "fov_diameter_px": round(target_ppd * REFERENCE_FIELD_ANGLE, 1),
        "field_angle_deg": REFERENCE_FIELD_ANGLE,
        "calibre_factor": 1.0,
    }
