"""Pixels to micrometres: a given scale, or one derived from the camera's field angle.

Model (``--field-angle``): the field angle ``A`` (degrees) of a fundus camera spans the
diameter ``D`` (px) of its circular field of view, and one degree of visual angle spans
about :data:`UM_PER_DEGREE` = 288 um of retina near the posterior pole of the schematic
eye (Drasdo and Fowler, Br J Ophthalmol 58:709-714, 1974), so::

    um_per_px = A * 288 / D

This ignores the eye's own magnification (axial length and refraction change it by roughly
+-10%; Bennett, Rudnicka and Edgar 1994) and the non-linearity of the projection towards
the edge of wide fields, so it is a population average, not a per-eye calibration. ``D`` is
the larger side of the FOV's bounding box (:func:`saunet.data.fov.fov_diameter`).

Built in: DRIVE photographs (Canon CR5, 45 deg) and CHASE_DB1 photographs (Nidek NM-200-D,
30 deg) are recognised by their file names (``01_test``, ``21_training``, ``01_manual1``;
``Image_01L``, ``Image_01L_1stHO``) and get that field angle when none is given.
"""

from __future__ import annotations

import re

import numpy as np

from saunet.data.fov import fov_diameter

__all__ = ["UM_PER_DEGREE", "KNOWN_FIELD_ANGLES", "known_field_angle", "um_per_px"]

#: Retina per degree of visual angle near the posterior pole (um; Drasdo and Fowler 1974).
UM_PER_DEGREE = 288.0

#: File-name pattern -> (dataset, field angle in degrees).
KNOWN_FIELD_ANGLES = (
    (re.compile(r"^\d\d_(test|training)(_mask)?$|^\d\d_manual[12]$"), "DRIVE", 45.0),
    (re.compile(r"^Image_\d\d[LR](_1stHO|_2ndHO|_mask)?$"), "CHASE_DB1", 30.0),
)


def known_field_angle(stem: str) -> tuple[str, float] | None:
    """``(dataset, degrees)`` when ``stem`` names a DRIVE or CHASE_DB1 file, else None."""
    for pattern, name, degrees in KNOWN_FIELD_ANGLES:
        if pattern.match(stem):
            return name, degrees
    return None


def um_per_px(
    fov: np.ndarray, *, given: float | None = None, field_angle: float | None = None
) -> float | None:
    """Micrometres per pixel: ``given`` as is, else from ``field_angle`` (module docstring).

    Returns None when neither is given, or when the FOV diameter is unknown (empty FOV,
    or one that fills the whole image).
    """
    if given is not None:
        return float(given)
    if field_angle is None:
        return None
    d = fov_diameter(fov)
    return field_angle * UM_PER_DEGREE / d if d else None
