"""On-the-fly augmentation and patch sampling on batched tensors (CPU or GPU).

:class:`OnlineAugment` is the per-batch equivalent of the paper's four offline methods
(Sec. III-A): random rotation, flips (horizontal / vertical / both), rotation by multiples of
90 degrees, colour jitter (saturation, brightness, contrast) and additive Gaussian noise.
Geometric transforms are applied identically to the image and to every mask tensor of a
sample (``label``, ``fov``, any other ``(N, C, H, W)`` entry); masks are resampled with
nearest neighbour and zero fill, so they stay exactly binary.

All random numbers come from the ``generator`` passed in (drawn on its device, then moved to
the batch's device), so a seeded :class:`torch.Generator` makes a run repeatable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from saunet.errors import UserError

__all__ = [
    "DEFAULT_ONLINE_OPS",
    "ONLINE_OPS",
    "OnlineAugment",
    "patch_corners",
    "sample_patches",
    "to_device_async",
]

log = logging.getLogger(__name__)

_LUMA = (0.299, 0.587, 0.114)

#: The transforms of :class:`OnlineAugment`, by the name of its switch (``data.online_ops``).
#: ``flips`` and ``rot90`` are lossless; ``rotate`` resamples (labels by nearest neighbour,
#: which moves one-pixel vessels by up to half a pixel); ``color`` and ``noise`` change only
#: the image; ``camera`` (per-channel gains and a gamma, as another sensor and its
#: processing would give) changes only the image and is off unless named.
ONLINE_OPS = ("rotate", "flips", "rot90", "color", "noise", "camera")
#: The paper's four offline methods as online transforms: what ``augmentation: online`` does
#: unless ``data.online_ops`` names others.
DEFAULT_ONLINE_OPS = ("rotate", "flips", "rot90", "color", "noise")


def check_online_ops(ops: Sequence[str]) -> None:
    """Raise ``ValueError`` naming any entry of ``ops`` that is not in :data:`ONLINE_OPS`."""
    unknown = sorted(set(ops) - set(ONLINE_OPS))
    if unknown:
        raise ValueError(f"online_ops: unknown {unknown}; choose from {', '.join(ONLINE_OPS)}")


def to_device_async(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move ``t`` to ``device`` without waiting for the GPU to finish its queued work
    (a plain copy from pageable host memory synchronises with the device, which starves
    it when every batch makes a dozen of them)."""
    if t.device == device:
        return t
    if t.device.type == "cpu" and device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gdev = generator.device if generator is not None else torch.device("cpu")
    return to_device_async(torch.rand(n, generator=generator, device=gdev), device)


def _uniform(
    n: int, lo: float, hi: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    return lo + (hi - lo) * _rand(n, generator, device)


class OnlineAugment:
    """Random joint augmentation of a batch ``{"image", "label", "fov", ...}``.

    Args:
        rotate: rotate with probability ``p_rotate`` by an angle uniform in
            ``[-max_angle, max_angle]`` degrees (bilinear image, nearest masks, zeros outside).
        flips: horizontal and vertical flips, each with probability 0.5 (both = the paper's
            "diagonal" flip).
        rot90: rotate by ``k * 90`` degrees, ``k`` uniform in 0..3 (0 or 2 for non-square
            batches, which must keep their shape). Lossless.
        color: with probability ``p_color``, saturation, brightness and contrast factors
            (in that order, like PIL ``ImageEnhance``) uniform in the given ranges; defaults
            are the authors' offline ranges.
        noise: add Gaussian noise ``N(noise_mean, noise_std)`` (image scale 0..1) with
            probability ``p_noise``; defaults are the authors' 0.2 / 0.3 on the 0..255 scale.
        camera: with probability ``p_camera``, multiply each channel by a gain drawn
            log-uniformly from ``gains`` (white balance, exposure) and raise the result to a
            power drawn log-uniformly from ``gamma`` (tone curve). Not in the paper: for
            training weights meant for other cameras.

    Call with a batch dict: ``image (N, 3, H, W)`` float in [0, 1], ``label`` and ``fov``
    ``(N, 1, H, W)`` float {0, 1}. Returns a new dict; keys that are not 4-D tensors of the
    batch's ``N, H, W`` pass through unchanged.
    """

    def __init__(
        self,
        rotate: bool = True,
        flips: bool = True,
        rot90: bool = True,
        color: bool = True,
        noise: bool = True,
        camera: bool = False,
        *,
        max_angle: float = 180.0,
        p_rotate: float = 0.5,
        p_color: float = 0.5,
        saturation: tuple[float, float] = (0.0, 3.0),
        brightness: tuple[float, float] = (1.0, 2.0),
        contrast: tuple[float, float] = (1.0, 2.0),
        p_noise: float = 0.5,
        noise_mean: float = 0.2 / 255.0,
        noise_std: float = 0.3 / 255.0,
        p_camera: float = 0.5,
        gains: tuple[float, float] = (0.7, 1.3),
        gamma: tuple[float, float] = (0.6, 1.6),
    ) -> None:
        self.rotate, self.flips, self.rot90 = rotate, flips, rot90
        self.color, self.noise = color, noise
        self.max_angle, self.p_rotate, self.p_color = max_angle, p_rotate, p_color
        self.saturation, self.brightness, self.contrast = saturation, brightness, contrast
        self.p_noise, self.noise_mean, self.noise_std = p_noise, noise_mean, noise_std
        self.camera, self.p_camera, self.gains, self.gamma = camera, p_camera, gains, gamma

    @classmethod
    def from_ops(cls, ops: Sequence[str]) -> OnlineAugment:
        """The augmentation with exactly the transforms named in ``ops`` (see :data:`ONLINE_OPS`)
        switched on, each with its default parameters."""
        check_online_ops(ops)
        return cls(**{op: op in ops for op in ONLINE_OPS})

    def __repr__(self) -> str:
        on = [k for k in ONLINE_OPS if getattr(self, k)]
        return f"OnlineAugment({', '.join(on)})"

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        image = batch["image"]
        n, _, h, w = image.shape
        dev = image.device
        geo = [
            k
            for k, v in batch.items()
            if k != "image"
            and torch.is_tensor(v)
            and v.dim() == 4
            and v.shape[0] == n
            and v.shape[-2:] == (h, w)
        ]
        out = dict(batch)
        if self.flips:
            fh = _rand(n, generator, dev) < 0.5
            fv = _rand(n, generator, dev) < 0.5
            for k in ["image"] + geo:
                t = out[k]
                t = torch.where(fh.view(n, 1, 1, 1), t.flip(-1), t)
                out[k] = torch.where(fv.view(n, 1, 1, 1), t.flip(-2), t)
        if self.rot90:
            choices = 4 if h == w else 2
            ks = (_rand(n, generator, dev) * choices).long().clamp_(max=choices - 1)
            ks = ks * (1 if h == w else 2)
            for k in ["image"] + geo:
                t = out[k]
                for q in (1, 2, 3) if h == w else (2,):
                    t = _apply_to(ks == q, lambda x, i, q=q: torch.rot90(x, q, dims=(-2, -1)), t)
                out[k] = t
        if self.rotate and self.max_angle > 0:
            sel = _rand(n, generator, dev) < self.p_rotate
            angles = _uniform(n, -self.max_angle, self.max_angle, generator, dev)
            grid = _rotation_grid(angles, h, w, image.dtype)

            def turn(x: torch.Tensor, i: torch.Tensor | None, mode: str) -> torch.Tensor:
                g = grid if i is None else grid[i]
                if mode == "nearest":  # masks: resampled as float, returned in their dtype
                    x, g = x.float(), g.float()
                return F.grid_sample(x, g, mode=mode, padding_mode="zeros", align_corners=False)

            out["image"] = _apply_to(sel, lambda x, i: turn(x, i, "bilinear"), out["image"])
            for k in geo:
                out[k] = _apply_to(sel, lambda x, i: turn(x, i, "nearest").to(x.dtype), out[k])
        if self.camera:
            out["image"] = self._camera(out["image"], generator)
        if self.color:
            out["image"] = self._color(out["image"], generator)
        if self.noise and self.noise_std > 0:
            sel = (_rand(n, generator, dev) < self.p_noise).view(n, 1, 1, 1)
            z = _noise(out["image"].shape, generator, dev)
            noisy = out["image"] + (self.noise_mean + self.noise_std * z).to(image.dtype)
            out["image"] = torch.where(sel, noisy, out["image"]).clamp_(0.0, 1.0)
        return out

    def _camera(self, img: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, c, dev = img.shape[0], img.shape[1], img.device
        sel = (_rand(n, generator, dev) < self.p_camera).view(n, 1, 1, 1)
        lg = [math.log(v) for v in self.gains]
        gain = _uniform(n * c, *lg, generator, dev).exp().view(n, c, 1, 1).to(img.dtype)
        lq = [math.log(v) for v in self.gamma]
        power = _uniform(n, *lq, generator, dev).exp().view(n, 1, 1, 1).to(img.dtype)
        x = (img * gain).clamp(0.0, 1.0).pow(power)
        return torch.where(sel, x, img)

    def _color(self, img: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, dev = img.shape[0], img.device
        sel = (_rand(n, generator, dev) < self.p_color).view(n, 1, 1, 1)
        s = _uniform(n, *self.saturation, generator, dev).view(n, 1, 1, 1).to(img.dtype)
        b = _uniform(n, *self.brightness, generator, dev).view(n, 1, 1, 1).to(img.dtype)
        c = _uniform(n, *self.contrast, generator, dev).view(n, 1, 1, 1).to(img.dtype)
        luma = to_device_async(torch.tensor(_LUMA, dtype=img.dtype).view(1, 3, 1, 1), dev)
        gray = (img * luma).sum(1, keepdim=True)
        x = (gray + s * (img - gray)).clamp(0.0, 1.0)
        x = (x * b).clamp(0.0, 1.0)
        mean = (x * luma).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
        x = (mean + c * (x - mean)).clamp(0.0, 1.0)
        return torch.where(sel, x, img)


def _apply_to(
    sel: torch.Tensor,
    fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    t: torch.Tensor,
    subset: bool | None = None,
) -> torch.Tensor:
    """``t`` with ``fn`` applied to the samples that the boolean ``sel`` ``(N,)`` picks.

    ``fn(x, i)`` transforms a stack of samples sample by sample; ``i`` are their indices in
    ``t`` (``None`` = all). On a CPU only the picked samples are transformed. On a GPU all
    are, and ``torch.where`` keeps the picked ones: more arithmetic, but no data-dependent
    indexing, which would make the host wait for the GPU. Same values either way;
    ``subset`` forces one way (``None``: by device).
    """
    if subset is None:
        subset = t.device.type == "cpu"
    if not subset:
        return torch.where(sel.view(-1, *([1] * (t.dim() - 1))), fn(t, None), t)
    idx = sel.nonzero().flatten()
    if len(idx) == 0:
        return t
    out = t.clone()
    out[idx] = fn(t[idx], idx)
    return out


def _noise(
    shape: torch.Size, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``device``.

    Drawn from ``generator`` itself when it lives on ``device``. A CPU generator feeding a
    GPU batch instead seeds a generator on the GPU (one number drawn from it), so
    megapixels of noise are neither drawn on the host nor copied: still repeatable for a
    seed, but not the same numbers a CPU run of that seed draws.
    """
    gdev = generator.device if generator is not None else torch.device("cpu")
    if gdev == device or device.type != "cuda":
        return to_device_async(torch.randn(shape, generator=generator, device=gdev), device)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gdev))
    return torch.randn(shape, generator=torch.Generator(device).manual_seed(seed), device=device)


def _rotation_grid(angles_deg: torch.Tensor, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """Sampling grid that rotates ``(H, W)`` images about their centre, in pixel units."""
    a = angles_deg.to(torch.float32) * (math.pi / 180.0)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    # Normalised coordinates scale x by 2/W and y by 2/H; correct for the aspect ratio.
    theta = torch.stack(
        [
            torch.stack([cos, -sin * (h / w), zero], dim=-1),
            torch.stack([sin * (w / h), cos, zero], dim=-1),
        ],
        dim=1,
    )
    return F.affine_grid(theta, [len(a), 1, h, w], align_corners=False).to(dtype)


def sample_patches(
    images: torch.Tensor,
    labels: torch.Tensor,
    fovs: torch.Tensor,
    patch_size: int,
    count: int,
    generator: torch.Generator | None = None,
    min_fov_fraction: float = 0.5,
) -> dict[str, torch.Tensor]:
    """Random square crops biased to the field of view (for cheap CPU training).

    Top-left corners are drawn uniformly among the positions whose crop has at least
    ``min_fov_fraction`` of its pixels inside the FOV (computed for every position with a
    summed-area table); the image of each crop is uniform among images with such a position.
    If no position of any image qualifies, all positions are allowed (logged).

    Args:
        images: ``(N, 3, H, W)``; labels, fovs: ``(N, 1, H, W)`` (same device).
        patch_size: side ``P`` of the crops (``<= min(H, W)``).
        count: number of crops.
        generator: source of randomness (deterministic when seeded).
        min_fov_fraction: minimum FOV fraction of a crop.

    Returns:
        ``{"image": (count, 3, P, P), "label": (count, 1, P, P), "fov": (count, 1, P, P)}``.
    """
    n, _, h, w = images.shape
    p = int(patch_size)
    dev = images.device
    corners = patch_corners(fovs, p, min_fov_fraction)
    usable = torch.tensor([i for i, c in enumerate(corners) if len(c)], device=dev)
    gdev = generator.device if generator is not None else torch.device("cpu")
    pick = torch.randint(len(usable), (count,), generator=generator, device=gdev).to(dev)
    img_idx = usable[pick]
    u = torch.rand(count, generator=generator, device=gdev).to(dev)
    out_i, out_l, out_f = [], [], []
    ww = w - p + 1
    for j in range(count):
        i = int(img_idx[j])
        flat = corners[i]
        pos = int(flat[min(int(u[j] * len(flat)), len(flat) - 1)])
        y, x = divmod(pos, ww)
        out_i.append(images[i, :, y : y + p, x : x + p])
        out_l.append(labels[i, :, y : y + p, x : x + p])
        out_f.append(fovs[i, :, y : y + p, x : x + p])
    return {"image": torch.stack(out_i), "label": torch.stack(out_l), "fov": torch.stack(out_f)}


def patch_corners(
    fovs: torch.Tensor, patch_size: int, min_fov_fraction: float
) -> list[torch.Tensor]:
    """Flat indices (into ``(H-P+1) * (W-P+1)``) of the top-left corners of every image
    whose ``P x P`` crop has at least ``min_fov_fraction`` of its pixels inside the FOV.

    Computed with a summed-area table; if no corner of any image qualifies, every corner
    is allowed (logged). ``fovs``: ``(N, 1, H, W)``.
    """
    _, _, h, w = fovs.shape
    p = int(patch_size)
    if p > h or p > w or p <= 0:
        raise UserError(f"patch_size {p} does not fit images of {h}x{w}; choose <= {min(h, w)}")
    f = (fovs[:, 0] > 0.5).to(torch.float64)
    sat = F.pad(f.cumsum(1).cumsum(2), (1, 0, 1, 0))  # (N, H+1, W+1)
    sums = sat[:, p:, p:] - sat[:, :-p, p:] - sat[:, p:, :-p] + sat[:, :-p, :-p]
    valid = (sums / (p * p)) >= min_fov_fraction - 1e-9  # (N, H-p+1, W-p+1)
    if not bool(valid.any()):
        log.warning("no %dx%d crop has %.0f%% FOV; sampling anywhere", p, p, 100 * min_fov_fraction)
        valid = torch.ones_like(valid)
    return [v.flatten().nonzero().flatten() for v in valid]
