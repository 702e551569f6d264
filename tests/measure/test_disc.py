"""Optic disc localisation: analytic phantoms, parsing, weak evidence, two DRIVE photographs."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from saunet.measure.disc import Disc, disc_candidate, locate_disc, parse_disc

REPO = Path(__file__).resolve().parents[2]


def fundus_phantom(
    centre: tuple[float, float] = (120.0, 210.0), radius: float = 25.0, size: int = 400
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image, vessels, fov)``: a bright disc with vessels radiating from it in a round FOV.

    The disc (``centre`` = ``(x, y)``, ``radius`` px) is 0.35 brighter than a background with
    a gentle left-right gradient; ten straight vessels leave the disc centre, the two widest
    (7 px) upwards and downwards as the main arcades do, the others 3-5 px wide.
    """
    yy, xx = np.mgrid[:size, :size].astype(float)
    c = size / 2
    fov = (xx - c) ** 2 + (yy - c) ** 2 <= (0.47 * size) ** 2
    cx, cy = centre
    vessels = np.zeros((size, size), bool)
    angles = [80, 100, 260, 280, 20, 160, 200, 340, 130, 230]
    widths = [7, 7, 7, 7, 5, 5, 4, 4, 3, 3]
    for a, w in zip(angles, widths, strict=True):
        dx, dy = math.cos(math.radians(a)), math.sin(math.radians(a))
        along = (xx - cx) * dx + (yy - cy) * dy
        across = np.abs(-(xx - cx) * dy + (yy - cy) * dx)
        vessels |= (across <= w / 2) & (along >= 0)
    vessels &= fov
    lum = 0.45 + 0.05 * xx / size
    lum = lum + 0.35 * (((xx - cx) ** 2 + (yy - cy) ** 2) <= radius**2)
    lum = np.where(vessels, lum * 0.6, lum) * fov
    image = np.stack([lum, 0.8 * lum, 0.4 * lum], axis=-1).astype(np.float32)
    return image, vessels, fov


def test_phantom_with_photograph_lands_on_the_disc():
    image, vessels, fov = fundus_phantom()
    disc = locate_disc(vessels, fov, image)
    assert disc is not None and disc.source == "detected"
    assert math.hypot(disc.x - 120, disc.y - 210) <= 3.0
    # The radius is that of the bright blob: the disc's 25 px, less what the vessels cover.
    assert 20.0 <= disc.radius <= 28.0


def test_phantom_from_the_vessel_tree_alone():
    _, vessels, fov = fundus_phantom()
    disc = locate_disc(vessels, fov)
    assert disc is not None
    assert math.hypot(disc.x - 120, disc.y - 210) <= 4.0
    diameter = 2 * math.sqrt(fov.sum() / math.pi)
    assert disc.radius == pytest.approx(diameter / 12, rel=0.02)


def test_mirrored_phantom_gives_the_mirrored_disc():
    image, vessels, fov = fundus_phantom()
    a = locate_disc(vessels, fov, image)
    b = locate_disc(vessels[:, ::-1], fov[:, ::-1], image[:, ::-1])
    assert a is not None and b is not None
    assert b.x == pytest.approx(fov.shape[1] - 1 - a.x, abs=1.5)
    assert b.y == pytest.approx(a.y, abs=1.5)


def test_uint8_photograph_is_read_like_float():
    image, vessels, fov = fundus_phantom()
    a = locate_disc(vessels, fov, image)
    b = locate_disc(vessels, fov, np.round(image * 255).astype(np.uint8))
    assert a is not None and b is not None
    assert math.hypot(a.x - b.x, a.y - b.y) <= 1.5


def test_empty_mask_gives_none():
    _, _, fov = fundus_phantom()
    empty = np.zeros_like(fov)
    assert locate_disc(empty, fov) is None
    assert disc_candidate(empty, fov).disc is None


def test_featureless_photograph_gives_none():
    _, _, fov = fundus_phantom()
    grey = np.repeat((0.5 * fov)[..., None], 3, axis=-1)
    assert locate_disc(np.zeros_like(fov), fov, grey) is None


def test_vessels_that_converge_nowhere_give_none():
    _, _, fov = fundus_phantom()
    lines = np.zeros_like(fov)
    for y in range(20, fov.shape[0], 40):
        lines[y : y + 6] = True  # parallel, evenly spaced: no place stands out
    lines &= fov
    candidate = disc_candidate(lines, fov)
    assert candidate.disc is not None  # there was something to score ...
    assert candidate.accepted() is None  # ... but not enough to call it a disc
    assert locate_disc(lines, fov) is None


def test_shape_mismatch_is_a_clear_error():
    image, vessels, fov = fundus_phantom()
    with pytest.raises(ValueError, match="same"):
        locate_disc(vessels[:-1], fov)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        locate_disc(vessels, fov, image[:-1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120,290,40", (120.0, 290.0, 40.0)),
        (" 1.5, 2 ,3e1 ", (1.5, 2.0, 30.0)),
        ("-10,5,7", (-10.0, 5.0, 7.0)),  # a disc centre outside the image is allowed
    ],
)
def test_parse_disc_good(text, expected):
    disc = parse_disc(text)
    assert (disc.x, disc.y, disc.radius) == expected
    assert disc.source == "given"
    assert isinstance(disc, Disc)


@pytest.mark.parametrize("text", ["", "1,2", "1,2,3,4", "a,b,c", "1,2,0", "1,2,-3", "nan,1,2"])
def test_parse_disc_bad(text):
    with pytest.raises(ValueError, match=r"X,Y,R"):
        parse_disc(text)


def test_disc_is_frozen():
    disc = parse_disc("1,2,3")
    with pytest.raises(AttributeError):
        disc.x = 5.0  # type: ignore[misc]


def _drive_root() -> Path:
    env = os.environ.get("SAUNET_DATA")
    root = Path(env) if env else (REPO / ".." / "shared" / "data").resolve()
    if not (root / "DRIVE" / "test" / "images").is_dir():
        pytest.skip(f"DRIVE not found under {root} (set SAUNET_DATA to DRIVE's parent)")
    return root / "DRIVE" / "test"


# Disc centres (x, y) read by eye from a 4x zoom with a 10 px grid: the middle of the
# disc's visible outline. DRIVE discs are about 35 px in radius.
DRIVE_DISCS = {"01": (88.0, 260.0), "02": (445.0, 275.0)}


@pytest.mark.parametrize("number", sorted(DRIVE_DISCS))
def test_drive_photographs(number):
    from saunet.data.io import read_image, read_mask

    d = _drive_root()
    image = read_image(d / "images" / f"{number}_test.tif")
    vessels = read_mask(d / "1st_manual" / f"{number}_manual1.gif")
    fov = read_mask(d / "mask" / f"{number}_test_mask.gif")
    x, y = DRIVE_DISCS[number]
    with_photo = locate_disc(vessels, fov, image)
    assert with_photo is not None
    assert math.hypot(with_photo.x - x, with_photo.y - y) <= 20
    assert 25 <= with_photo.radius <= 50
    # From the mask alone the centre falls on the vessel trunk, nasal of the middle.
    mask_only = locate_disc(vessels, fov)
    assert mask_only is not None
    assert math.hypot(mask_only.x - x, mask_only.y - y) <= 35
