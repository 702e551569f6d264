"""Padding, cropping and the paper's offline augmentation (paper Sec. III-A, III-C).

Offline (numpy/PIL, before training) lives here; the batched on-the-fly equivalent
(:class:`~saunet.data.online.OnlineAugment`, :func:`~saunet.data.online.sample_patches`)
is in :mod:`saunet.data.online` and the validation splits
(:func:`~saunet.data.splits.make_train_val`) in :mod:`saunet.data.splits`.

Padding: images are zero-padded symmetrically to 592x592 (DRIVE) / 1008x1008 (CHASE_DB1),
top = ``(H' - H) // 2``, left = ``(W' - W) // 2``, as in the authors' code; predictions are
cropped back with the same offset for evaluation.

Offline expansion (as in the authors' released code): every original plus,
per method, three new images: rotation (uniform integer angle in [1, 359] degrees, bicubic
image / nearest label and FOV, canvas kept, zero fill), Gaussian noise (mean 0.2, sigma 0.3 on
the 0..255 scale, rounded to 8 bit: almost invisible, as released), colour jitter (PIL
``ImageEnhance`` colour in {0.0..3.0}, brightness {1.0..2.0}, contrast {1.0..2.0}, sharpness
{0.0..3.0}, steps of 0.1, in that order) and flips (horizontal, vertical, both = the paper's
"diagonal"). 20 originals -> 260 images. The image goes through 8-bit PIL operations, exact
for 8-bit sources.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

__all__ = [
    "pad_to_size",
    "crop_to_size",
    "pad_sample",
    "crop_sample_array",
    "offline_expand",
    "MASK_KEYS",
]

#: Per-pixel boolean arrays that follow the image through padding and augmentation.
MASK_KEYS = ("label", "fov", "second_label")

_NOISE_MEAN, _NOISE_SIGMA = 0.2, 0.3  # on the 0..255 scale (authors' code)


def pad_to_size(arr: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-pad ``(H, W)`` or ``(H, W, C)`` symmetrically to ``size = (H', W')``.

    Returns:
        ``(padded, (top, left))`` with ``top = (H' - H) // 2``, ``left = (W' - W) // 2``.

    Raises:
        ValueError: the array is larger than ``size``.
    """
    h, w = arr.shape[:2]
    th, tw = int(size[0]), int(size[1])
    if h > th or w > tw:
        raise ValueError(f"pad_to_size: array {h}x{w} is larger than the target {th}x{tw}")
    top, left = (th - h) // 2, (tw - w) // 2
    pad = [(top, th - h - top), (left, tw - w - left)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(arr, pad, mode="constant", constant_values=0), (top, left)


def crop_to_size(arr: np.ndarray, size: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pad_to_size`: the ``size = (H, W)`` window at ``offset = (top, left)``.

    Works on ``(H', W', ...)`` arrays; returns a view.
    """
    top, left = int(offset[0]), int(offset[1])
    return arr[top : top + int(size[0]), left : left + int(size[1])]


def crop_sample_array(arr: np.ndarray, sample: dict[str, Any]) -> np.ndarray:
    """Crop a prediction made on a padded sample back to the sample's original ``size``."""
    return crop_to_size(arr, sample["size"], sample.get("offset", (0, 0)))


def pad_sample(sample: dict[str, Any], size: tuple[int, int] | int) -> dict[str, Any]:
    """Pad ``image`` and the masks of a sample to ``size``; a new dict (input untouched).

    The result keeps ``size`` = the original ``(H, W)`` and adds ``offset = (top, left)``.
    """
    if isinstance(size, int):
        size = (size, size)
    out = dict(sample)
    out["image"], offset = pad_to_size(sample["image"], size)
    for k in MASK_KEYS:
        if k in sample:
            out[k] = pad_to_size(sample[k], size)[0]
    out["offset"] = offset
    out.setdefault("size", tuple(sample["image"].shape[:2]))
    return out


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8))


def _from_pil(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255.0


def _copy(sample: dict[str, Any], suffix: str, method: str, **arrays: np.ndarray) -> dict[str, Any]:
    out = dict(sample)
    out.update(arrays)
    out["name"] = f"{sample['name']}_{suffix}"
    out["source"] = sample.get("source", sample["name"])
    out["augment"] = method
    return out


def _rotate(sample: dict[str, Any], angle: int) -> dict[str, np.ndarray]:
    arrays = {
        "image": _from_pil(_to_pil(sample["image"]).rotate(angle, Image.BICUBIC, fillcolor=0))
    }
    for k in MASK_KEYS:
        if k in sample:
            m = Image.fromarray(sample[k].astype(np.uint8) * 255)
            arrays[k] = np.asarray(m.rotate(angle, Image.NEAREST, fillcolor=0)) > 127
    return arrays


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = image * 255.0 + rng.normal(_NOISE_MEAN, _NOISE_SIGMA, size=image.shape)
    return (np.round(np.clip(noisy, 0, 255)) / 255.0).astype(np.float32)


def _color(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    im = _to_pil(image)
    steps = {
        ImageEnhance.Color: np.round(np.arange(0, 31) / 10, 1),
        ImageEnhance.Brightness: np.round(np.arange(10, 21) / 10, 1),
        ImageEnhance.Contrast: np.round(np.arange(10, 21) / 10, 1),
        ImageEnhance.Sharpness: np.round(np.arange(0, 31) / 10, 1),
    }
    for enhancer, factors in steps.items():
        im = enhancer(im).enhance(float(rng.choice(factors)))
    return _from_pil(im)


def _flip(sample: dict[str, Any], axes: tuple[int, ...]) -> dict[str, np.ndarray]:
    keys = ("image",) + tuple(k for k in MASK_KEYS if k in sample)
    return {k: np.ascontiguousarray(np.flip(sample[k], axis=axes)) for k in keys}


def offline_expand(samples: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The paper's offline augmentation: originals + 3 copies per method (4 methods).

    Output order: per original, the original, ``_rot1..3``, ``_noise1..3``, ``_color1..3``,
    ``_fliph``, ``_flipv``, ``_fliphv``. Copies carry ``source`` (the original's name) and
    ``augment`` (the method); labels and masks stay boolean. Deterministic for ``seed``:
    each original draws from its own generator ``default_rng([seed, index])``.

    Args:
        samples: sample dicts (usually already padded with :func:`pad_sample`, as the
            authors augmented the padded images).
        seed: random seed.

    Returns:
        ``13 * len(samples)`` sample dicts (20 -> 260).
    """
    out: list[dict[str, Any]] = []
    for i, s in enumerate(samples):
        rng = np.random.default_rng([seed, i])
        base = dict(s)
        base.setdefault("source", s["name"])
        base.setdefault("augment", "none")
        out.append(base)
        for j in range(3):
            angle = int(rng.integers(1, 360))
            out.append(_copy(s, f"rot{j + 1}", "rotation", **_rotate(s, angle)))
        for j in range(3):
            out.append(_copy(s, f"noise{j + 1}", "noise", image=_noise(s["image"], rng)))
        for j in range(3):
            out.append(_copy(s, f"color{j + 1}", "color", image=_color(s["image"], rng)))
        for suffix, axes in (("fliph", (1,)), ("flipv", (0,)), ("fliphv", (0, 1))):
            out.append(_copy(s, suffix, "flip", **_flip(s, axes)))
    return out
