"""Every recipe in configs/ parses into a RunConfig, and fine-tuning sources resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from saunet.checkpoint import resolve_checkpoint
from saunet.config import load_config
from saunet.errors import UserError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_recipe_parses(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    if cfg.train.init_weights:
        assert resolve_checkpoint(cfg.train.init_weights).is_file()


def test_unknown_train_key_is_named(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("train:\n  init_weight: drive\n")
    with pytest.raises(UserError, match="init_weight"):
        load_config(p)
