"""Synthetic test samples (image, label, FOV, second observer) and noisy maps for them."""

from __future__ import annotations

import numpy as np


def synthetic_samples(n: int = 3, h: int = 24, w: int = 28, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    fov = (yy - h / 2) ** 2 / (h / 2) ** 2 + (xx - w / 2) ** 2 / (w / 2) ** 2 < 0.8
    out = []
    for i in range(n):
        label = np.zeros((h, w), bool)
        label[:, 5 + i : 8 + i] = True
        label[10:12, :] = True
        label &= fov
        second = label.copy()
        second[rng.random((h, w)) < 0.05] ^= True
        image = rng.random((h, w, 3)).astype(np.float32)
        out.append({"image": image, "label": label, "fov": fov, "second_label": second,
                    "name": f"{i + 1:02d}_test", "size": (h, w), "path": f"/x/{i}.tif"})  # fmt: skip
    return out


def noisy_probs(samples: list[dict], seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.clip(s["label"] * 0.6 + rng.random(s["label"].shape) * 0.5, 0, 1).astype(np.float32)
        for s in samples
    ]


# ------------------------------------------------------------------ evaluate_maps
