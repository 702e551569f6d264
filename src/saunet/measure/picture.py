"""The ``<stem>_measure.png`` picture: centrelines coloured by calibre over the image.

Drawn with Pillow on the photograph (or, for a mask input, on the mask in grey):

* each segment's centreline in the colour of its mean width (px; :data:`PALETTE`, a
  viridis-like ramp from :data:`WIDTH_RANGE_PX` low to high, clipped), with a colour bar;
* branch points as small white dots;
* the optic disc (white circle) and the rings at 2, 3 and 5 disc radii that bound zones B
  (2-3) and C (2-5) (yellow), when there is a disc.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from saunet.measure.image import ImageMeasures

__all__ = ["PALETTE", "WIDTH_RANGE_PX", "width_colour", "render_measures"]

#: Anchor colours (RGB) of the width ramp, low to high (after viridis).
PALETTE = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float
)
#: Widths mapped to the two ends of the ramp (px).
WIDTH_RANGE_PX = (1.0, 12.0)


def width_colour(width: float | None, lo: float, hi: float) -> tuple[int, int, int]:
    """Colour of a width on the ramp (grey when undefined)."""
    if width is None:
        return (160, 160, 160)
    t = float(np.clip((width - lo) / (hi - lo), 0.0, 1.0)) * (len(PALETTE) - 1)
    i = min(int(t), len(PALETTE) - 2)
    c = PALETTE[i] + (t - i) * (PALETTE[i + 1] - PALETTE[i])
    return (int(c[0]), int(c[1]), int(c[2]))


def _background(image: np.ndarray | None, mask: np.ndarray) -> Image.Image:
    if image is None:
        grey = np.where(mask, 110, 0).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    rgb = np.asarray(image, dtype=np.float32)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    # Dimmed so the coloured centrelines stand out against the bright disc.
    return Image.fromarray(np.round(np.clip(rgb[:, :, :3], 0, 1) * 170).astype(np.uint8))


def _colour_bar(draw: ImageDraw.ImageDraw, lo: float, hi: float, scale: int) -> None:
    font = ImageFont.load_default(size=max(10, 6 * scale))
    x0, y0, w, h = 8 * scale, 8 * scale, 12 * scale, 80 * scale
    for i in range(h):
        draw.line([(x0, y0 + h - i), (x0 + w, y0 + h - i)], fill=width_colour(
            lo + (hi - lo) * i / (h - 1), lo, hi))  # fmt: skip
    draw.text((x0 + w + 3 * scale, y0 - 2 * scale), f"{hi:g} px", fill="white", font=font)
    draw.text((x0 + w + 3 * scale, y0 + h - 6 * scale), f"{lo:g} px", fill="white", font=font)
    draw.text((x0, y0 + h + 3 * scale), "mean width", fill="white", font=font)


def render_measures(
    res: ImageMeasures, mask: np.ndarray, image: np.ndarray | None = None
) -> np.ndarray:
    """``uint8 (H, W, 3)`` picture of one image's measures (module docstring).

    Args:
        res: the measures (:func:`saunet.measure.image.measure_mask`).
        mask: ``bool (H, W)`` the vessel mask that was measured.
        image: the photograph ``(H, W, 3)`` float in [0, 1], or None for a mask input.
    """
    canvas = _background(image, np.asarray(mask, dtype=bool))
    h, w = mask.shape
    scale = max(1, round(min(h, w) / 500))
    draw = ImageDraw.Draw(canvas)
    lo, hi = WIDTH_RANGE_PX
    for seg, width in zip(res.graph.segments, res.widths, strict=True):
        xy = [(float(c), float(r)) for r, c in seg.points]
        if len(xy) > 1:
            draw.line(xy, fill=width_colour(width, lo, hi), width=scale + 1)
    for r, c in res.graph.branch_points:
        d = scale + 1
        draw.ellipse([c - d, r - d, c + d, r + d], fill="white")
    row = res.row
    if row["disc_x"] is not None:
        x, y, rad = row["disc_x"], row["disc_y"], row["disc_radius_px"]
        draw.ellipse([x - rad, y - rad, x + rad, y + rad], outline="white", width=scale + 1)
        for k in (2, 3, 5):
            draw.ellipse(
                [x - k * rad, y - k * rad, x + k * rad, y + k * rad],
                outline=(255, 220, 0),
                width=scale,
            )
    _colour_bar(draw, lo, hi, scale)
    return np.asarray(canvas)
