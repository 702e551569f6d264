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


FINETUNE_FAST = ["data.patch_size=32", "data.patches_per_image=2", "data.val_count=1",
                 "train.clock=epochs", "train.epochs=1", "train.batch_size=4", "train.threads=1"]  # fmt: skip


def test_finetune_recipe_on_own_folder_then_segment_with_it(tiny_dataset, tmp_path, capsys):
    """The whole own-data path: configs/finetune.yaml with --images/--labels/--masks, from
    the shipped weights, then `segment --weights RUN` on a photograph."""
    from pathlib import Path

    d = tiny_dataset["train"]
    run = tmp_path / "mine"
    args = ["train", "--config", str(Path(__file__).parents[2] / "configs" / "finetune.yaml"),
            "--images", d["images"], "--labels", d["labels"], "--masks", d["masks"],
            "--out", str(run), "--no-test-eval", *FINETUNE_FAST]  # fmt: skip
    assert main(args) == 0
    _, meta = read_checkpoint(run / "best.safetensors")
    assert meta["init_weights"]["spec"] == "drive"
    assert meta["data"]["dataset"] == "folder" and len(meta["data"]["val"]) == 1
    assert len(meta["data"]["train"]) == 3
    capsys.readouterr()
    out = tmp_path / "seg"
    image = sorted(Path(d["images"]).glob("im*.png"))[0]
    assert main(["segment", str(image), "--weights", str(run), "--out", str(out)]) == 0
    assert (out / f"{image.stem}_mask.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--images", "nowhere", "--labels", "nowhere"], "--images nowhere: no such folder"),
        (["--images", "."], "--images DIR and --labels DIR"),
        (["data.pad_to=16"], "data.pad_to=16 is smaller than the largest training image"),
    ],
)
def test_own_data_errors_are_one_line(tiny_dataset, tmp_path, extra, message, capsys):
    from pathlib import Path

    d = tiny_dataset["train"]
    folder = [] if "--images" in extra else ["--images", d["images"], "--labels", d["labels"]]
    args = ["train", "--config", str(Path(__file__).parents[2] / "configs" / "finetune.yaml"),
            *folder, "--out", str(tmp_path / "r"), "--no-test-eval", *FINETUNE_FAST, *extra]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
