"""Overlay of a vessel mask on the photograph it came from."""

from __future__ import annotations

import numpy as np

__all__ = ["VESSEL_COLOUR", "overlay"]

#: Vessels are tinted bright green: visible on the red/orange fundus and for red-green
#: colour-blind readers against the dark background.
VESSEL_COLOUR = (40, 255, 80)


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    colour: tuple[int, int, int] = VESSEL_COLOUR,
    alpha: float = 0.7,
    fov: np.ndarray | None = None,
) -> np.ndarray:
    """Photograph with the mask's pixels tinted: ``uint8 (H, W, 3)``.

    Args:
        image: ``(H, W, 3)`` float in [0, 1] (or uint8).
        mask: ``bool (H, W)`` vessel pixels.
        colour: RGB tint of vessel pixels.
        alpha: opacity of the tint.
        fov: optional ``bool (H, W)``; pixels outside it are dimmed to half brightness.
    """
    img = np.asarray(image)
    rgb = (
        img.copy() if img.dtype == np.uint8 else np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    )
    m = np.asarray(mask, dtype=bool)
    if m.shape != rgb.shape[:2]:
        raise ValueError(f"mask {m.shape} does not match image {rgb.shape[:2]}")
    if fov is not None:
        outside = ~np.asarray(fov, dtype=bool)
        rgb[outside] //= 2
    tint = np.asarray(colour, dtype=np.float32)
    px = rgb[m].astype(np.float32)
    rgb[m] = np.round((1.0 - alpha) * px + alpha * tint).astype(np.uint8)
    return rgb
