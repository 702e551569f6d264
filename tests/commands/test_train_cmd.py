"""``saunet train`` end to end on a tiny synthetic folder dataset, in process."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from saunet.cli import main
from saunet.models.checkpoint import read_checkpoint


@pytest.fixture
def tiny_recipe(tiny_dataset, tiny_config, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tiny_dataset).to_dict()))
    return path


def test_train_writes_a_complete_run_directory(tiny_recipe, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--config", str(tiny_recipe), "--out", str(run), "train.epochs=1"]) == 0
    for name in ("config.yaml", "log.csv", "curves.png", "best.safetensors", "last.safetensors",
                 "eval/metrics.json"):  # fmt: skip
        assert (run / name).is_file(), name
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1  # the override train.epochs=1 took effect
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 1
    _, meta = read_checkpoint(run / "best.safetensors")
    assert meta["model_config"]["name"] == "sa-unet" and meta["seed"] == 3
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert set(metrics["protocols"]) == {"paper", "fov"}
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_done"] == 1


def test_train_refuses_to_overwrite_a_run(tiny_recipe, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(["train", "--config", str(tiny_recipe), "--out", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert [p.name for p in run.iterdir()] == ["notes.txt"]


def test_train_without_a_recipe_is_a_one_line_error(capsys):
    assert main(["train"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--config" in err


def test_train_rejects_an_unknown_override(tiny_recipe, tmp_path, capsys):
    assert main(["train", "--config", str(tiny_recipe), "--out", str(tmp_path / "r"),
                 "train.no_such_key=1"]) == 2  # fmt: skip
    assert "no_such_key" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
