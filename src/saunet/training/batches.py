"""Epoch batches for training: whole padded images (paper) or random FOV patches (CPU).

Batches are dicts of tensors: ``image`` ``(B, 3, H, W)`` float in [0, 1], ``label`` and
``fov`` ``(B, 1, H, W)`` float in {0, 1}, ``name`` a list of strings, and, when a run
distils from a teacher (:mod:`saunet.training.distill`), ``soft`` ``(B, 1, H, W)`` float in
[0, 1]. The images live in memory as uint8 (260 padded CHASE_DB1 images take 0.8 GB this
way, 3.2 GB as float32).

Randomness comes only from a generator seeded by ``(seed, epoch)``, so any epoch can be
replayed exactly after a resume, whatever happened before it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from saunet.config import DataConfig
from saunet.data.online import patch_corners, to_device_async
from saunet.data.transforms import pad_to_size
from saunet.errors import UserError

log = logging.getLogger(__name__)


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU generator unique to ``(seed, epoch, stream)``."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 7 + stream)


def _stack(samples: list[dict], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Pad every sample to ``size`` and stack as uint8 tensors."""
    n = len(samples)
    images = torch.empty((n, 3, *size), dtype=torch.uint8)
    labels = torch.empty((n, 1, *size), dtype=torch.uint8)
    fovs = torch.empty((n, 1, *size), dtype=torch.uint8)
    for i, s in enumerate(samples):
        img, _ = pad_to_size(s["image"], size)
        images[i] = torch.from_numpy(np.round(img * 255).clip(0, 255).astype(np.uint8)).permute(
            2, 0, 1
        )
        labels[i, 0] = torch.from_numpy(pad_to_size(s["label"].astype(np.uint8), size)[0])
        fovs[i, 0] = torch.from_numpy(pad_to_size(s["fov"].astype(np.uint8), size)[0])
    return {"image": images, "label": labels, "fov": fovs}


def common_size(samples: list[dict], pad_to: int | None, multiple: int = 8) -> tuple[int, int]:
    """``(pad_to, pad_to)`` if given (and large enough), else the largest image rounded up."""
    h = max(s["image"].shape[0] for s in samples)
    w = max(s["image"].shape[1] for s in samples)
    if pad_to is not None:
        if pad_to < h or pad_to < w:
            raise UserError(
                f"data.pad_to={pad_to} is smaller than the largest training image ({h}x{w}, HxW); "
                f"add data.pad_to=null (pad each batch to its largest image) or "
                f"data.pad_to={max(h, w) + (-max(h, w)) % multiple}"
            )
        return pad_to, pad_to
    return h + (-h) % multiple, w + (-w) % multiple


#: Tensors stored as uint8 x 255 (scaled back to [0, 1] in a batch); the others are {0, 1}.
SCALED = ("image", "soft")


def _as_float(key: str, t: torch.Tensor) -> torch.Tensor:
    return t.float().div_(255.0) if key in SCALED else t.float()


class ImageSet:
    """A fixed set of images as uint8 tensors, padded to one size.

    ``tensors`` maps ``image`` ``(N, 3, H, W)``, ``label``, ``fov`` and optionally ``soft``
    ``(N, 1, H, W)`` to uint8 tensors; every key present is batched and cropped alike.
    """

    def __init__(self, samples: list[dict], size: tuple[int, int]) -> None:
        self.names = [s["name"] for s in samples]
        self.size = size
        self.tensors = _stack(samples, size) if samples else {}

    def __len__(self) -> int:
        return len(self.names)

    def to(self, device: torch.device) -> ImageSet:
        """Move the uint8 tensors to ``device`` (a GPU then builds its own batches)."""
        self.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return self

    def batch(self, idx: torch.Tensor | list[int]) -> dict:
        idx = torch.as_tensor(idx, dtype=torch.long, device="cpu")
        names = [self.names[i] for i in idx.tolist()]  # from the host copy: no GPU sync
        if self.tensors:
            idx = to_device_async(idx, self.tensors["image"].device)
        return {**{k: _as_float(k, t[idx]) for k, t in self.tensors.items()}, "name": names}

    def in_order(self, batch_size: int) -> Iterator[dict]:
        for start in range(0, len(self), batch_size):
            yield self.batch(list(range(start, min(start + batch_size, len(self)))))


class TrainingData:
    """Training and validation images of a run and the batches of every epoch."""

    def __init__(self, train: list[dict], val: list[dict], cfg: DataConfig, seed: int) -> None:
        if not train:
            raise ValueError("no training images")
        self.cfg = cfg
        self.seed = seed
        size = common_size(train + val, cfg.pad_to)
        self.train = ImageSet(train, size)
        self.val = ImageSet(val, size)
        self.corners: list[torch.Tensor] = []
        if cfg.patch_size:
            self.corners = patch_corners(
                self.train.tensors["fov"], cfg.patch_size, cfg.patch_fov_fraction
            )
        log.info("training on %d images, validating on %d, at %dx%d", len(train), len(val), *size)

    def to(self, device: torch.device) -> TrainingData:
        """Keep the images on ``device``: on a GPU, copying every batch from host memory
        and converting it there would cost more than the forward and backward passes."""
        self.train.to(device)
        self.val.to(device)
        return self

    def items_per_epoch(self) -> int:
        """Training examples in one epoch (images, or patches in patch mode)."""
        if self.cfg.patch_size:
            return len(self.train) * self.cfg.patches_per_image
        return len(self.train)

    def num_batches(self, batch_size: int, world: int = 1) -> int:
        per_rank = -(-self.items_per_epoch() // world)
        return -(-per_rank // batch_size)

    def epoch_batches(
        self, epoch: int, batch_size: int, *, rank: int = 0, world: int = 1
    ) -> Iterator[dict]:
        """Batches of ``epoch``; rank ``r`` of ``world`` gets every ``world``-th example."""
        g = epoch_generator(self.seed, epoch)
        n = self.items_per_epoch()
        order = torch.randperm(n, generator=g)
        # Pad the order so every rank gets the same number of examples (DDP needs equal steps).
        per_rank = -(-n // world)
        if per_rank * world > n:
            order = torch.cat([order, order[: per_rank * world - n]])
        mine = order[rank::world]
        for start in range(0, len(mine), batch_size):
            idx = mine[start : start + batch_size]
            if self.cfg.patch_size:
                yield self._patches(idx, epoch, start)
            else:
                yield self.train.batch(idx)

    def _patches(self, idx: torch.Tensor, epoch: int, start: int) -> dict:
        """FOV-biased random crops; example ``k`` of an epoch is a crop of image ``k % N``.

        Corners are drawn uniformly among those whose crop has at least
        ``patch_fov_fraction`` of its pixels in the FOV (precomputed once per run). Corners
        are Python ints, so slicing images that live on a GPU never waits for it, and each
        key's crops are joined by one ``stack`` kernel. With ``data.zoom`` each crop is
        instead a window of side ``P / z`` about the same centre, resized to ``P``
        (:func:`zoom_crop`).
        """
        p = self.cfg.patch_size
        g = epoch_generator(self.seed, epoch, stream=1 + start)
        u = torch.rand(len(idx), generator=g)
        zooms = None
        if self.cfg.zoom:
            lo, hi = (math.log(z) for z in self.cfg.zoom)
            zooms = (lo + (hi - lo) * torch.rand(len(idx), generator=g)).exp().tolist()
        ww = self.train.size[1] - p + 1
        t = self.train.tensors
        crops: dict[str, list[torch.Tensor]] = {key: [] for key in t}
        names = []
        for j, k in enumerate(idx.tolist()):
            i = k % len(self.train)
            corners = self.corners[i]
            if len(corners) == 0:
                corners = self.corners[0]
            pos = int(corners[min(int(u[j] * len(corners)), len(corners) - 1)])
            y, x = divmod(pos, ww)
            for key in crops:
                if zooms is None:
                    crops[key].append(t[key][i, :, y : y + p, x : x + p])
                else:
                    crops[key].append(zoom_crop(t[key][i], y, x, p, zooms[j], key))
            names.append(self.train.names[i])
        if zooms is not None:
            return {**{k: torch.stack(v) for k, v in crops.items()}, "name": names}
        return {**{k: _as_float(k, torch.stack(v)) for k, v in crops.items()}, "name": names}


def zoom_crop(t: torch.Tensor, y: int, x: int, p: int, zoom: float, key: str) -> torch.Tensor:
    """The ``p x p`` crop at ``(y, x)`` of ``t`` ``(C, H, W)`` (uint8), seen at ``zoom``.

    A window of side ``q = p / zoom`` (at most the image's side) about the crop's centre,
    moved inside the image, is resized to ``p``: bilinear (antialiased when shrinking) for
    images, and bilinear then thresholded at 0.5 for masks, which stay in {0, 1}. Returns
    float ``(C, p, p)``, images in [0, 1].
    """
    _, h, w = t.shape
    q = max(2, min(round(p / zoom), h, w))
    cy, cx = y + p / 2, x + p / 2
    y0 = int(min(max(round(cy - q / 2), 0), h - q))
    x0 = int(min(max(round(cx - q / 2), 0), w - q))
    win = _as_float(key, t[None, :, y0 : y0 + q, x0 : x0 + q])
    if q == p:
        return win[0]
    out = F.interpolate(win, size=(p, p), mode="bilinear", align_corners=False, antialias=q > p)
    if key in SCALED:
        return out[0].clamp_(0.0, 1.0)
    return (out[0] >= 0.5).float()
