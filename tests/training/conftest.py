"""Fixtures of the training tests: small random in-memory training data."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.config import DataConfig
from saunet.training.batches import TrainingData


def random_samples(n: int, h: int = 40, w: int = 36) -> list[dict]:
    """``n`` random images with sparse random labels inside a round FOV."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    fov = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 2) ** 2
    return [
        {
            "name": f"im{i}",
            "image": rng.random((h, w, 3)).astype(np.float32),
            "label": rng.random((h, w)) < 0.1,
            "fov": fov,
        }
        for i in range(n)
    ]


@pytest.fixture
def random_data():
    """Factory: ``random_data(patch_size=None, n_train=5, n_val=2, w=36) -> TrainingData``."""

    def make(patch_size: int | None = None, n_train: int = 5, n_val: int = 2, w: int = 36):
        cfg = DataConfig(dataset="folder", pad_to=None, patch_size=patch_size,
                         patches_per_image=3, patch_fov_fraction=0.5)  # fmt: skip
        return TrainingData(random_samples(n_train, w=w), random_samples(n_val, w=w), cfg, seed=1)

    return make
