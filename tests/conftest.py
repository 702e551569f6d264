"""Fixtures shared across the test tree."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from saunet import build_model
from saunet.checkpoint import save_checkpoint


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
