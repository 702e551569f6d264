"""Fixtures for the data tests: the real data root (skipped when absent) and synthetic folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def real_data_root() -> Path:
    """``$SAUNET_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("SAUNET_DATA")
    return Path(env) if env else (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = real_data_root()
    if not (root / "DRIVE").is_dir() or not (root / "CHASEDB1").is_dir():
        pytest.skip(f"real data not found at {root} (set SAUNET_DATA to DRIVE/CHASEDB1's parent)")
    return root


@pytest.fixture(scope="session")
def drive_train(data_root):
    from saunet.data import load_dataset

    return load_dataset("drive", data_root, "train")


@pytest.fixture(scope="session")
def drive_test(data_root):
    from saunet.data import load_dataset

    return load_dataset("drive", data_root, "test")


@pytest.fixture(scope="session")
def chase_all(data_root):
    from saunet.data import load_dataset

    return load_dataset("chase", data_root, "all")


def fundus(h: int = 48, w: int = 56, seed: int = 0) -> np.ndarray:
    """A synthetic fundus-like uint8 RGB image: a bright noisy disc on black."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    img = rng.integers(80, 220, size=(h, w, 3)).astype(np.uint8)
    img[~disc] = 0
    return img


def vessels(h: int = 48, w: int = 56, seed: int = 0) -> np.ndarray:
    """A synthetic binary label (a few random lines)."""
    rng = np.random.default_rng(seed + 100)
    lab = np.zeros((h, w), dtype=bool)
    lab[rng.integers(0, h, 3), :] = True
    lab[:, rng.integers(0, w, 3)] = True
    return lab


def make_folder(base: Path, n: int = 3, *, masks: bool = True, size=(48, 56)) -> dict:
    """Write ``n`` DRIVE-like samples (images/labels/masks) under ``base``; return the config."""
    for d in ("images", "labels", "masks"):
        (base / d).mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        Image.fromarray(fundus(h, w, i)).save(base / "images" / f"{i:02d}_test.png")
        Image.fromarray(vessels(h, w, i).astype(np.uint8) * 255).save(
            base / "labels" / f"{i:02d}_manual1.gif"
        )
        if masks:
            Image.fromarray(fundus(h, w, i)[..., 0] > 0).save(
                base / "masks" / f"{i:02d}_test_mask.png"
            )
    return {
        "images": str(base / "images"),
        "labels": str(base / "labels"),
        "masks": str(base / "masks") if masks else None,
    }


@pytest.fixture
def synth():
    """Synthetic-data helpers: ``synth.fundus``, ``synth.vessels``, ``synth.make_folder``."""

    class Synth:
        pass

    s = Synth()
    s.fundus, s.vessels, s.make_folder = fundus, vessels, make_folder
    return s
