"""Optic disc localisation from a vessel mask and, when there is one, the photograph.

No training data and no learned parameters. Everything runs at a working scale where the
field-of-view (FOV) diameter ``D`` is about 256 px (never upsampled), with
``r0 = D / 12`` (about one disc radius) as the length unit of every filter:

1. **Thick vessels.** The Euclidean distance transform of the vessel mask gives each vessel
   pixel its distance to the background; the centre lines of the widest vessels are the pixels
   with ``dt >= max(1.5, 0.5 * p99(dt))``. The large vessels leave the disc, so they carry the
   evidence; the thin ones reach everywhere.
2. **Orientation** of the vessels from the structure tensor of the smoothed vessel mask.
3. **Convergence.** Every thick-vessel pixel votes along its own direction, both ways, up to
   ``D / 6``; the trunks near the disc point through it, so the votes pile up there
   (smoothed with ``sigma = r0 / 2``). Longer lines let the curved arcades vote far off.
4. **Vertical trunk.** Thick vessels weighted by ``|sin(orientation)|`` and smoothed with a
   tall Gaussian (``sigma_y = 2 r0``, ``sigma_x = r0 / 2``): the two main arcades leave the
   disc upwards and downwards (see the failure modes).
5. **Brightness** (photograph only). ``I = (R + G) / 2``; a grey closing as wide as the
   thickest vessel erases the dark vessels; a difference of Gaussians
   (``sigma = r0 / 2`` minus ``sigma = 3 r0``, normalised inside the FOV so the dark outside
   does not leak in) keeps blobs of disc size brighter than their surroundings.
6. **Score** = ``z(brightness) + (z(convergence) + z(vertical)) / 2`` with a photograph,
   ``z(convergence) + z(vertical)`` without, where ``z`` standardises a map over the FOV
   shrunk by ``r0 / 2`` (the search region). The disc centre is the maximum of the score.
7. **Confidence.** ``None`` is returned when there is too little to judge (an FOV under
   32 px across; fewer than :data:`MIN_THICK_PIXELS` thick centre-line pixels and no
   photograph), when the score's maximum is below :data:`MIN_PEAK` (4 standard deviations
   above the FOV mean with a photograph, 5 without: nothing stands out), or when the best
   position beats the best one more than ``3 r0`` away by less than :data:`MIN_MARGIN`
   (two places compete).
8. **Radius.** With a photograph: the bright blob around the centre (every component of the
   smoothed, vessel-free ``I`` above :data:`BLOB_LEVEL` of the way from the ring at
   ``1.5..2.5 r0`` up to the centre's peak that reaches within ``r0 / 2`` of the centre), as
   the radius of the circle of equal area, clamped to :data:`RADIUS_RANGE` of ``D``. Its
   median is ``0.068 D`` on the 40 DRIVE photographs (45 degrees) and ``0.102 D`` on the 28
   CHASE_DB1 ones (30 degrees), where a 1.8 mm disc at 288 um per degree predicts ``0.069 D``
   and ``0.104 D``. Without a photograph the field angle is unknown: ``D / 12``
   (:data:`RADIUS_FRACTION`), between the two.

Units: pixels of the input, image coordinates (``x`` = column, ``y`` = row, the centre of
the top-left pixel is ``(0, 0)``).

Failure modes: photographs rotated away from the usual upright orientation (the vertical
trunk term then points elsewhere); bright lesions or reflexes of disc size (peripapillary
atrophy, large exudate patches, a bright FOV rim) pull the brightness term; a disc outside
or cut by the FOV edge cannot be found (the search region excludes a band of ``r0 / 2``);
areas filled as vessel (some manual masks fill bright atrophy) count as the thickest
vessels; mask-only input depends on the large vessels being segmented, lands on the trunk,
which lies on the nasal side of the disc centre, and can be fooled where thick
vessel-like lines cross (the confidence test does not tell such a crossing from a disc);
the radius is that of the bright part of the disc, not a segmented rim, and a fixed
fraction of ``D`` without a photograph.

The constants were chosen by looking at the 40 DRIVE and 28 CHASE_DB1 photographs that also
serve as the check (``benchmarks/disc_contact_sheet.py``), so that check is not held out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["Disc", "DiscCandidate", "locate_disc", "disc_candidate", "parse_disc"]

WORK_DIAMETER = 256.0
"""FOV diameter (px) of the working scale."""
UNIT_FRACTION = 1.0 / 12.0
"""Length unit ``r0`` of the filters as a fraction of the FOV diameter."""
RADIUS_FRACTION = 1.0 / 12.0
"""Disc radius without a photograph, as a fraction of the FOV diameter (module docstring)."""
RADIUS_RANGE = (1.0 / 24.0, 1.0 / 7.0)
"""Bounds of the bright-blob radius, as fractions of the FOV diameter."""
BLOB_LEVEL = 0.35
"""Blob threshold: this fraction of the way from the surrounding ring up to the peak."""
MIN_THICK_PIXELS = 20
"""Fewer thick-vessel centre-line pixels (full resolution) than this: no vessel evidence."""
MIN_PEAK = {"image": 4.0, "mask": 5.0}
"""Lowest accepted score maximum (a sum of standardised maps, so in standard deviations),
with a photograph and from the mask alone (where crossings of thick vessels score higher)."""
MIN_MARGIN = 0.5
"""Lowest accepted lead of the maximum over the best position more than ``3 r0`` away."""


@dataclass(frozen=True)
class Disc:
    """An optic disc: centre ``(x, y)`` and ``radius`` in pixels, image coordinates.

    ``source`` is ``"detected"`` (by :func:`locate_disc`) or ``"given"`` (by the user).
    """

    x: float
    y: float
    radius: float
    source: str


def parse_disc(text: str) -> Disc:
    """Parse ``"X,Y,R"`` (pixels: centre column, centre row, radius) into a given disc.

    Raises:
        ValueError: the text is not three comma-separated finite numbers with ``R > 0``.
    """
    parts = [p.strip() for p in str(text).split(",")]
    expected = "expected X,Y,R in pixels (centre column, centre row, radius), e.g. 120,290,40"
    if len(parts) != 3:
        raise ValueError(f"disc {text!r}: {expected}")
    try:
        x, y, r = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"disc {text!r}: not a number; {expected}") from None
    if not all(math.isfinite(v) for v in (x, y, r)):
        raise ValueError(f"disc {text!r}: values must be finite; {expected}")
    if r <= 0:
        raise ValueError(f"disc {text!r}: the radius must be > 0; {expected}")
    return Disc(x=x, y=y, radius=r, source="given")


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-like downsampling of a float map to ``shape`` (Gaussian prefilter + bilinear)."""
    from skimage.transform import resize

    if a.shape == shape:
        return a.astype(np.float32)
    return resize(a.astype(np.float32), shape, order=1, anti_aliasing=True).astype(np.float32)


def _gauss(a: np.ndarray, sigma: float | tuple[float, float]) -> np.ndarray:
    """Gaussian blur; wide ones (``sigma >= 6`` px) on a ``k``-times smaller grid, for speed.

    The ``k x k`` block mean already blurs by a variance of ``(k^2 - 1) / 12`` px^2 per axis,
    so the coarse Gaussian supplies the rest; linear interpolation brings it back.
    """
    sy, sx = (float(sigma), float(sigma)) if np.isscalar(sigma) else map(float, sigma)
    k = int(min(sy, sx) // 3)
    if k < 2:
        return ndi.gaussian_filter(a, (sy, sx))
    h, w = a.shape
    p = np.pad(a, ((0, -h % k), (0, -w % k)), mode="edge")
    small = p.reshape(p.shape[0] // k, k, p.shape[1] // k, k).mean(axis=(1, 3))
    rest = [math.sqrt(max(s * s - (k * k - 1) / 12.0, 0.25)) / k for s in (sy, sx)]
    small = ndi.gaussian_filter(small, rest)
    return ndi.zoom(small, k, order=1, grid_mode=True, mode="nearest")[:h, :w]


def _masked_blur(a: np.ndarray, mask: np.ndarray, sigma: float | tuple[float, float]):
    """Gaussian mean of ``a`` over ``mask`` only (normalised convolution); 0 where no support."""
    m = mask.astype(np.float32)
    num = _gauss(a * m, sigma)
    den = _gauss(m, sigma)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


def _zscore(a: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Standardise ``a`` by its mean and std over ``region``; a flat map gives zeros."""
    v = a[region]
    sd = float(v.std())
    if sd < 1e-12:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - float(v.mean())) / sd).astype(np.float32)


def _orientation(vessels_w: np.ndarray) -> np.ndarray:
    """Vessel direction (radians, image axes) from the structure tensor of a vessel map."""
    g = ndi.gaussian_filter(vessels_w, 1.5)
    gy, gx = np.gradient(g)
    jxx = ndi.gaussian_filter(gx * gx, 3.0)
    jyy = ndi.gaussian_filter(gy * gy, 3.0)
    jxy = ndi.gaussian_filter(gx * gy, 3.0)
    # The dominant gradient is across the vessel; the vessel runs perpendicular to it.
    return 0.5 * np.arctan2(2 * jxy, jxx - jyy) + np.pi / 2


def _convergence(
    thick: np.ndarray, theta: np.ndarray, region: np.ndarray, length: int
) -> np.ndarray:
    """Votes cast by thick-vessel pixels along their direction, ``2..length`` px both ways."""
    h, w = thick.shape
    ys, xs = np.nonzero((thick > 0.3) & region)
    acc = np.zeros(h * w, dtype=np.float64)
    if ys.size == 0 or length < 2:
        return acc.reshape(h, w)
    t = np.concatenate([np.arange(-length, -1), np.arange(2, length + 1)]).astype(np.float32)
    c, s = np.cos(theta[ys, xs]), np.sin(theta[ys, xs])
    px = np.rint(xs[:, None] + t[None, :] * c[:, None]).astype(np.int64)
    py = np.rint(ys[:, None] + t[None, :] * s[:, None]).astype(np.int64)
    wt = np.broadcast_to(thick[ys, xs][:, None], px.shape)
    ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    acc += np.bincount(py[ok] * w + px[ok], weights=wt[ok], minlength=h * w)
    return acc.reshape(h, w)


def _brightness(image: np.ndarray, shape, fov_w: np.ndarray, r0: float, close: int):
    """Disc-sized bright blobs: DoG of the vessel-free ``(R + G) / 2`` inside the FOV."""
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    lum = 0.5 * (img[..., 0] + img[..., 1])
    lum_w = _resize(lum, shape)
    closed = ndi.grey_closing(lum_w, size=(close, close))
    dog = _masked_blur(closed, fov_w, r0 / 2) - _masked_blur(closed, fov_w, 3 * r0)
    return closed, dog


def _blob_radius(
    closed: np.ndarray, fov_w: np.ndarray, iy: int, ix: int, r0: float, prior: float
) -> float:
    """Radius (working px) of the bright blob at ``(iy, ix)``: half-height area, clamped.

    ``prior`` (working px) is returned when there is no blob brighter than its surroundings.
    """
    sm = _masked_blur(closed, fov_w, 1.0)
    yy, xx = np.mgrid[: sm.shape[0], : sm.shape[1]]
    d2 = (yy - iy) ** 2 + (xx - ix) ** 2
    core = (d2 <= (r0 / 2) ** 2) & fov_w
    ring = (d2 >= (1.5 * r0) ** 2) & (d2 <= (2.5 * r0) ** 2) & fov_w
    if not core.any() or not ring.any():
        return prior
    peak = float(np.percentile(sm[core], 95))
    bg = float(np.median(sm[ring]))
    blob = (sm >= bg + BLOB_LEVEL * (peak - bg)) & (d2 <= (2 * r0) ** 2) & fov_w
    labels, _ = ndi.label(blob)
    # The bright rim can surround a darker cup under the centre, so every bright component
    # that reaches the central region counts, not only the one under the centre pixel.
    touching = np.unique(labels[core & blob])
    if peak <= bg or touching.size == 0:
        return prior
    radius = math.sqrt(float(np.isin(labels, touching).sum()) / math.pi)
    diameter = r0 / UNIT_FRACTION
    return float(np.clip(radius, RADIUS_RANGE[0] * diameter, RADIUS_RANGE[1] * diameter))


def locate_disc(
    vessels: np.ndarray, fov: np.ndarray, image: np.ndarray | None = None
) -> Disc | None:
    """Find the optic disc (method, units and failure modes: module docstring).

    Args:
        vessels: ``bool (H, W)`` vessel mask.
        fov: ``bool (H, W)`` field of view.
        image: the photograph, ``(H, W, 3)`` ``uint8`` or float in ``[0, 1]``; ``None`` for
            mask-only input (the disc then comes from the vessel tree alone).

    Returns:
        ``Disc(source="detected")`` in input pixels, or ``None`` when the evidence is weak.

    Raises:
        ValueError: the arrays' shapes do not match.
    """
    return disc_candidate(vessels, fov, image).accepted()


@dataclass(frozen=True)
class DiscCandidate:
    """The best disc position before the confidence test, with its evidence.

    ``peak``: the score maximum (standard deviations); ``margin``: its lead over the best
    position more than ``3 r0`` away; ``evidence``: ``"image"`` or ``"mask"``. ``disc`` is
    ``None`` (and both numbers ``nan``) when there was nothing to score.
    """

    disc: Disc | None
    peak: float
    margin: float
    evidence: str  # "image" (photograph and vessels) or "mask" (vessels alone)

    def accepted(self) -> Disc | None:
        """The disc if it passes :data:`MIN_PEAK` and :data:`MIN_MARGIN`, else ``None``."""
        if self.disc is None:
            return None
        if not (self.peak >= MIN_PEAK[self.evidence] and self.margin >= MIN_MARGIN):
            return None
        return self.disc


def disc_candidate(
    vessels: np.ndarray, fov: np.ndarray, image: np.ndarray | None = None
) -> DiscCandidate:
    """The best disc position and its evidence, before the confidence test.

    Same arguments as :func:`locate_disc`, which returns ``disc_candidate(...).accepted()``.
    """
    evidence = "mask" if image is None else "image"
    nothing = DiscCandidate(None, math.nan, math.nan, evidence)
    vessels = np.asarray(vessels, dtype=bool)
    fov = np.asarray(fov, dtype=bool)
    if vessels.ndim != 2 or vessels.shape != fov.shape:
        raise ValueError(f"vessels {vessels.shape} and fov {fov.shape} must be the same (H, W)")
    if image is not None and (np.ndim(image) != 3 or np.shape(image)[:2] != vessels.shape):
        raise ValueError(f"image {np.shape(image)} must be (H, W, 3) with (H, W) = {fov.shape}")
    area = int(fov.sum())
    diameter = 2.0 * math.sqrt(area / math.pi)
    if diameter < 32:
        return nothing
    vessels = vessels & fov
    dt = ndi.distance_transform_edt(vessels)
    widths = dt[vessels]
    p99 = float(np.percentile(widths, 99)) if widths.size else 0.0
    core = dt >= max(1.5, 0.5 * p99)
    if int(core.sum()) < MIN_THICK_PIXELS and image is None:
        return nothing

    scale = min(1.0, WORK_DIAMETER / diameter)
    h, w = fov.shape
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    r0 = diameter * scale * UNIT_FRACTION
    fov_w = _resize(fov, shape) > 0.5
    region = ndi.binary_erosion(fov_w, iterations=max(1, int(r0 / 2)))
    if not region.any():
        return nothing
    thick_w = _resize(core, shape) * fov_w
    vessels_w = _resize(vessels, shape)

    theta = _orientation(vessels_w)
    votes = _gauss(_convergence(thick_w, theta, fov_w, int(diameter * scale / 6)), r0 / 2)
    vertical = _gauss(thick_w * np.abs(np.sin(theta)), (2 * r0, r0 / 2))
    tree = _zscore(votes, region) + _zscore(vertical, region)
    if image is None:
        score = tree
    else:
        close = max(3, 2 * int(math.ceil(p99 * scale)) + 1)
        closed, dog = _brightness(image, shape, fov_w, r0, close)
        score = _zscore(dog, region) + 0.5 * tree
    score = np.where(region, score, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(score)), score.shape)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    elsewhere = (yy - iy) ** 2 + (xx - ix) ** 2 > (3 * r0) ** 2
    rival = float(score[elsewhere].max()) if elsewhere.any() else -np.inf
    prior = diameter * scale * RADIUS_FRACTION
    radius = prior if image is None else _blob_radius(closed, fov_w, iy, ix, r0, prior)
    # Working pixel centres map back to input pixel centres.
    disc = Disc(
        x=float((ix + 0.5) / scale - 0.5),
        y=float((iy + 0.5) / scale - 0.5),
        radius=float(radius / scale),
        source="detected",
    )
    return DiscCandidate(disc, float(score[iy, ix]), float(score[iy, ix] - rival), evidence)
