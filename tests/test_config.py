"""Every recipe in configs/ and research/configs/ parses into a RunConfig, and fine-tuning
sources resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from saunet.config import RunConfig, load_config
from saunet.errors import UserError
from saunet.models.checkpoint import resolve_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(REPO.glob("configs/*.yaml")) + sorted(REPO.glob("research/configs/*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(REPO)) for p in CONFIGS])
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


def test_online_ops_default_all_and_checked(tmp_path):
    p = tmp_path / "ops.yaml"
    p.write_text("data:\n  augmentation: online\n")
    assert load_config(p).data.online_ops == ["rotate", "flips", "rot90", "color", "noise"]
    cfg = load_config(p, ["data.online_ops=[flips, rot90]"])
    assert cfg.data.online_ops == ["flips", "rot90"]
    assert RunConfig.from_dict(cfg.to_dict()).data.online_ops == ["flips", "rot90"]
    with pytest.raises(UserError, match="colour"):
        load_config(p, ["data.online_ops=[flips, colour]"])
