"""Fixtures of the fault-injection suite: a tiny recipe on disk and an uninterrupted run of
it to compare killed runs with (helpers in ``faultkit.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from faultkit import EPOCHS

from saunet.cli import main


@pytest.fixture
def recipe(tiny_dataset, tiny_config, tmp_path) -> Path:
    """The tiny recipe (``EPOCHS`` epochs, one thread, a checkpoint every epoch) as YAML."""
    cfg = tiny_config(tiny_dataset, epochs=EPOCHS, threads=1, save_every=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


@pytest.fixture
def baseline(recipe, tmp_path, one_thread) -> Path:
    """An uninterrupted run of ``recipe``, trained in this process."""
    run = tmp_path / "baseline"
    assert main(["train", "--config", str(recipe), "--out", str(run), "--no-test-eval"]) == 0
    return run


@pytest.fixture
def trained(recipe, tmp_path, one_thread):
    """A finished 2-epoch run of the tiny recipe."""
    run = tmp_path / "run"
    argv = ["train", "--config", str(recipe), "--out", str(run), "--no-test-eval"]
    assert main([*argv, "train.epochs=2"]) == 0
    return run
