"""Every recipe in configs/ and research/configs/ parses into a RunConfig, fine-tuning
sources resolve, and bad configs and unsafe resume overrides are named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from saunet.config import (
    RESUME_SAFE_KEYS,
    RunConfig,
    apply_resume_overrides,
    load_config,
    read_config_dict,
)
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


@pytest.mark.parametrize(
    ("override", "message"),
    [("train.epochs=ten", "train.epochs: 'ten' is not of type"),
     ("train.lr=true", "train.lr: True is not of type"),
     ("train.lr_milestones=100", "train.lr_milestones: 100 is not of type"),
     ("data.pad_to=1.5", "data.pad_to: 1.5 is not of type")],
)  # fmt: skip
def test_values_of_the_wrong_type_are_named(tmp_path, override, message):
    p = tmp_path / "r.yaml"
    p.write_text("train:\n  max_minutes: 5\n")  # an int where a float is meant is fine
    assert load_config(p).train.max_minutes == 5
    with pytest.raises(UserError, match=message):
        load_config(p, [override])


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"train: {a: [1\n", "not valid YAML at line 2"), (b"\xff\xfe", "not a text file"),
     (b"", "is empty"), (b"[1, 2]\n", "is a list")],
)  # fmt: skip
def test_read_config_dict_says_what_is_wrong(tmp_path, content, message):
    p = tmp_path / "config.yaml"
    p.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_config_dict(p)


def test_resume_overrides_change_only_safe_keys():
    d = RunConfig().to_dict()
    new, changed = apply_resume_overrides(d, ["train.epochs=200", "train.seed=0"], "run")
    assert new["train"]["epochs"] == 200 and changed == ["train.epochs"]  # seed restated
    assert d["train"]["epochs"] == 150  # the input is not modified
    for item in ("train.seed=1", "model.drop_prob=0.2", "data.augmentation=none"):
        key = item.split("=")[0]
        with pytest.raises(UserError, match=f"run: {key} cannot change on --resume"):
            apply_resume_overrides(d, [item], "run")
    assert set(RESUME_SAFE_KEYS) >= {"train.epochs", "train.max_minutes"}


def test_zoom_and_calibre_settings_are_checked():
    from saunet.config import DataConfig

    assert DataConfig(dataset="drive+chase").datasets == ["drive", "chase"]
    assert DataConfig(patch_size=64, zoom=[0.5, 2]).zoom == [0.5, 2.0]
    with pytest.raises(ValueError, match="patch_size"):
        DataConfig(zoom=[0.5, 2])
    with pytest.raises(ValueError, match="lo <= hi"):
        DataConfig(patch_size=64, zoom=[2, 0.5])
    with pytest.raises(ValueError, match="px_per_degree"):
        DataConfig(px_per_degree=0)


def test_the_general_recipe_loads():
    from pathlib import Path

    from saunet.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "general.yaml")
    assert cfg.data.datasets == ["drive", "chase"] and cfg.data.px_per_degree == 20.0
    assert "camera" in cfg.data.online_ops and cfg.data.zoom == [0.5, 2.0]
