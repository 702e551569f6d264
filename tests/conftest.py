"""Fixtures shared across the test tree: tiny checkpoints, a tiny synthetic folder dataset
and a tiny training config (fast enough for the default suite)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saunet import build_model
from saunet.models.checkpoint import save_checkpoint


@pytest.fixture
def one_thread():
    """Run torch on one thread: tiny forward passes are faster and steadier on a busy CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_tiny_checkpoint(
    path: Path, *, seed: int = 0, channels: tuple[int, ...] = (4, 8, 16, 32), **meta
) -> Path:
    """A randomly initialised SA-UNet checkpoint (eval mode) with ``meta`` added."""
    torch.manual_seed(seed)
    model = build_model("sa-unet", channels=channels).eval()
    meta = {"model_config": model.config.to_dict(), "threshold": 0.5, **meta}
    tensors = {"model." + k: v for k, v in model.state_dict().items()}
    return save_checkpoint(path, tensors, meta, sidecar=False)


@pytest.fixture
def tiny_checkpoint():
    """Factory: ``tiny_checkpoint(path, seed=0, threshold=0.5, scale={...})``."""
    return write_tiny_checkpoint


def make_folder_dataset(root: Path, n_train: int = 4, n_test: int = 2, size: int = 48) -> dict:
    """Write a tiny fundus-like ``folder`` dataset (straight "vessels" in a round FOV) and
    return its ``data.folder`` spec."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    fov = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2 - 1) ** 2
    spec = {}
    for split, n in (("train", n_train), ("test", n_test)):
        d = root / split
        d.mkdir(parents=True)
        for i in range(n):
            label = np.zeros((size, size), bool)
            for _ in range(3):  # random straight "vessels"
                a, b = rng.uniform(-1, 1, 2)
                c = rng.uniform(0, size)
                label |= np.abs(a * (xx - size / 2) + b * (yy - size / 2) + c - size / 2) < 1.5
            label &= fov
            img = np.stack([0.8 - 0.4 * label, 0.4 - 0.2 * label, 0.2 + 0 * label], -1)
            img = img * fov[..., None] + rng.normal(0, 0.03, img.shape)
            Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(d / f"im{i}.png")
            Image.fromarray(label.astype(np.uint8) * 255).save(d / f"im{i}_label.png")
            Image.fromarray(fov.astype(np.uint8) * 255).save(d / f"im{i}_mask.png")
        spec[split] = {"images": str(d), "labels": str(d), "masks": str(d)}
    return spec


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> dict:
    return make_folder_dataset(tmp_path / "data")


def _tiny_config(folder: dict, **train):
    from saunet.config import RunConfig

    return RunConfig.from_dict(
        {
            "name": "tiny",
            "model": {"name": "sa-unet", "channels": [4, 8, 16], "drop_prob": 0.1, "block_size": 3},
            "data": {"dataset": "folder", "folder": folder, "pad_to": None,
                     "augmentation": "online", "validation": "holdout", "val_count": 1},
            "train": {"epochs": 2, "batch_size": 2, "lr": 0.01, "precision": "fp32",
                      "device": "cpu", "seed": 3, **train},
        }
    )  # fmt: skip


@pytest.fixture
def tiny_config():
    """Factory: ``tiny_config(folder, **train_overrides) -> RunConfig``."""
    return _tiny_config


@pytest.fixture
def shared_data_root() -> Path:
    """``$SAUNET_DATA`` or ``../shared/data``; skips the test when neither holds DRIVE."""
    import os

    root = Path(
        os.environ.get("SAUNET_DATA")
        or Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    if not (root / "DRIVE").is_dir():
        pytest.skip(f"data root {root} absent (set SAUNET_DATA)")
    return root
