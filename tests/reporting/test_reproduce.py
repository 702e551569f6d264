"""``saunet.reporting.reproduce``: run layout, skip / resume / train decisions, collection, configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import saunet.reporting.reproduce as rp
from saunet.errors import UserError
from saunet.reporting.collect import collect_run, parse_label


def tiny_folder_dataset(root: Path, size: int = 40) -> dict:
    """Three training and two test images; the first test image is called 01_test."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    fov = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2 - 1) ** 2
    spec = {}
    for split, names in (("train", ["a", "b", "c"]), ("test", ["01_test", "02_test"])):
        d = root / split
        d.mkdir(parents=True)
        for name in names:
            label = np.zeros((size, size), bool)
            for _ in range(3):
                a, b, c = rng.uniform(-1, 1, 3)
                label |= np.abs(a * (xx - size / 2) + b * (yy - size / 2) + 10 * c) < 1.5
            label &= fov
            img = (
                np.stack([0.8 - 0.4 * label, 0.4 - 0.2 * label, 0.2 + 0 * label], -1)
                * fov[..., None]
            )
            Image.fromarray((img * 255).astype(np.uint8)).save(d / f"{name}.png")
            Image.fromarray(label.astype(np.uint8) * 255).save(d / f"{name}_label.png")
            Image.fromarray(fov.astype(np.uint8) * 255).save(d / f"{name}_mask.png")
        spec[split] = {"images": str(d), "labels": str(d), "masks": str(d)}
    return spec


def tiny_config_file(tmp_path: Path) -> Path:
    cfg = {
        "name": "tiny",
        "model": {"name": "sa-unet", "channels": [4, 8, 16], "drop_prob": 0.1, "block_size": 3},
        "data": {"dataset": "folder", "folder": tiny_folder_dataset(tmp_path / "data"),
                 "pad_to": None, "augmentation": "online", "validation": "holdout", "val_count": 1},
        "train": {"epochs": 1, "batch_size": 2, "lr": 0.01, "precision": "fp32", "device": "cpu",
                  "threads": 1},
    }  # fmt: skip
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_reproduce_trains_collects_and_reports_then_skips(tmp_path, monkeypatch):
    monkeypatch.delenv("SAUNET_DATA", raising=False)
    cfg = tiny_config_file(tmp_path)
    kw = dict(out=tmp_path / "runs", results_dir=tmp_path / "results", report=tmp_path / "REPORT.md",
              configs={"drive": cfg}, progress=False)  # fmt: skip
    [o] = rp.reproduce(["drive"], "cpu", models=["sa-unet"], **kw)
    assert (
        o.status == "trained"
        and o.run_dir == tmp_path / "runs" / "cpu" / "drive" / "sa-unet" / "seed0"
    )
    res = tmp_path / "results" / "cpu" / "drive" / "sa-unet" / "seed0"
    assert o.results == res
    for name in ("config.yaml", "log.csv", "curves.png", "metrics.json", "metrics-val-f1.json",
                 "per_image.csv", "table.md", "run.json", "probs/figure-1.png"):  # fmt: skip
        assert (res / name).is_file(), name
    assert not list(res.rglob("*.safetensors")) and not (res / "probs" / "figure-2.png").exists()
    run = json.loads((res / "run.json").read_text())
    assert run["recipe_label"] == "cpu" and run["budget_minutes"] is None
    assert run["model"] == "sa-unet" and run["paper_row"] == "SA-UNet" and run["seed"] == 0
    assert run["epochs_done"] == 1 and run["evaluated"] and run["hardware"]["device"] == "cpu"
    md = (tmp_path / "REPORT.md").read_text()
    assert "### Recipe `cpu`" in md and "Trained with: CPU recipe (configs/tiny.yaml)" in md
    stamp = (o.run_dir / "eval" / "metrics.json").stat().st_mtime_ns
    [again] = rp.reproduce(["drive"], "cpu", models=["sa-unet"], **kw)
    assert again.status == "done"
    assert (o.run_dir / "eval" / "metrics.json").stat().st_mtime_ns == stamp


class FakeTrain:
    """Stands in for :func:`saunet.training.train`: writes the files a run leaves."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, cfg, run_dir, *, data_root=None, resume=False, progress=True, **_) -> dict:
        run_dir = Path(run_dir)
        self.calls.append((cfg, run_dir, resume))
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
        d = cfg.to_dict() if not resume else yaml.safe_load((run_dir / "config.yaml").read_text())
        meta = {"epoch": 2, "elapsed_seconds": 93.0, "run_config": d, "best_epoch": 1}
        (run_dir / "last.json").write_text(json.dumps(meta))
        (run_dir / "last.safetensors").write_bytes(b"")
        (run_dir / "eval").mkdir(exist_ok=True)
        (run_dir / "eval" / "metrics.json").write_text("{}")
        return {}


@pytest.fixture
def fake_train(monkeypatch):
    import saunet.training

    fake = FakeTrain()
    monkeypatch.setattr(saunet.training, "train", fake)
    return fake


def test_minutes_become_overrides_and_label(tmp_path, fake_train):
    outcomes = rp.reproduce(["drive"], "cpu", models=["unet18", "sa-unet"], seeds=2, minutes=5,
                            out=tmp_path / "runs", results_dir=tmp_path / "res", report=None)  # fmt: skip
    assert [(o.model, o.seed, o.status) for o in outcomes] == [
        ("unet18", 0, "trained"), ("unet18", 1, "trained"), ("sa-unet", 0, "trained"), ("sa-unet", 1, "trained")
    ]  # fmt: skip
    cfg, run_dir, _ = fake_train.calls[1]
    assert run_dir == tmp_path / "runs" / "cpu-5min" / "drive" / "unet18" / "seed1"
    assert cfg.model.name == "unet18" and not cfg.model.dropblock and cfg.train.seed == 1
    assert cfg.train.max_minutes == 5 and cfg.train.clock == "time" and cfg.data.dataset == "drive"
    run = json.loads(
        (tmp_path / "res" / "cpu-5min" / "drive" / "unet18" / "seed1" / "run.json").read_text()
    )
    assert run["recipe_label"] == "cpu-5min" and run["budget_minutes"] == 5.0
    assert run["epochs_done"] == 3 and run["wall_minutes"] == 1.55 and run["config"] == "drive-cpu"
    assert not (tmp_path / "REPORT.md").exists()


def test_resume_evaluate_only_and_leftovers(tmp_path, fake_train, monkeypatch):
    import saunet.training.loop as loop

    base = tmp_path / "runs" / "cpu" / "drive"
    rp.reproduce(["drive"], "cpu", models=["sa-unet"], out=tmp_path / "runs", results_dir=None)
    # interrupted mid-training: resumed
    (base / "sa-unet" / "seed0" / "eval" / "metrics.json").unlink()
    cfg = yaml.safe_load((base / "sa-unet" / "seed0" / "config.yaml").read_text())
    meta = json.loads((base / "sa-unet" / "seed0" / "last.json").read_text())
    (base / "sa-unet" / "seed0" / "last.json").write_text(
        json.dumps({**meta, "elapsed_seconds": 1.0})
    )
    [o] = rp.reproduce(
        ["drive"], "cpu", models=["sa-unet"], out=tmp_path / "runs", results_dir=None
    )
    assert o.status == "resumed" and fake_train.calls[-1][2] is True
    # training finished but the evaluation did not: evaluated, not trained again
    (base / "sa-unet" / "seed0" / "eval" / "metrics.json").unlink()
    meta = {**meta, "epoch": cfg["train"]["epochs"] - 1}
    (base / "sa-unet" / "seed0" / "last.json").write_text(json.dumps(meta))
    evaluated = []
    monkeypatch.setattr(loop, "evaluate_run", lambda run_dir, *a: evaluated.append(run_dir))
    n = len(fake_train.calls)
    [o] = rp.reproduce(
        ["drive"], "cpu", models=["sa-unet"], out=tmp_path / "runs", results_dir=None
    )
    assert o.status == "resumed" and len(fake_train.calls) == n and evaluated == [o.run_dir]
    # died before its first epoch (config.yaml only): started afresh
    stillborn = base / "unet18" / "seed0"
    stillborn.mkdir(parents=True)
    (stillborn / "config.yaml").write_text("name: x\n")
    (stillborn / ".saunet.lock").write_text("999999999 saunet train\n")  # its dead writer's
    (stillborn / ".log.csv.pid999999999.abc123.tmp").write_text("half")
    [o] = rp.reproduce(["drive"], "cpu", models=["unet18"], out=tmp_path / "runs", results_dir=None)
    assert o.status == "trained"
    assert not list(stillborn.glob("*.tmp")) and not list(stillborn.glob(".*.tmp"))
    # anything else is not ours to delete
    odd = base / "backbone" / "seed0"
    odd.mkdir(parents=True)
    (odd / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="no last.safetensors"):
        rp.reproduce(["drive"], "cpu", models=["backbone"], out=tmp_path / "runs", results_dir=None)


def test_bad_arguments_are_user_errors(tmp_path):
    for kwargs, match in ((dict(recipe="gpu"), "unknown recipe"), (dict(models=["nope"]), "unknown model"),
                          (dict(minutes=0), "positive"), (dict(seeds=0), "no seeds")):  # fmt: skip
        args = {"datasets": ["drive"], "recipe": "cpu", "out": tmp_path, **kwargs}
        with pytest.raises(UserError, match=match):
            rp.reproduce(**args)
    with pytest.raises(UserError, match="unknown dataset"):
        rp.reproduce(["stare"], "cpu", out=tmp_path)


def test_configs_are_found_in_the_checkout_or_reported(tmp_path, monkeypatch):
    assert rp.recipe_config("drive", "paper").name == "drive.yaml"
    assert rp.recipe_config("drive", "cpu").name == "drive-cpu.yaml"
    monkeypatch.delenv("SAUNET_CONFIGS", raising=False)
    monkeypatch.setattr(rp, "__file__", str(tmp_path / "site" / "saunet" / "reproduce.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="configs/ not found.*SAUNET_CONFIGS"):
        rp.find_configs_dir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "drive.yaml").write_text("name: drive\n")
    monkeypatch.setenv("SAUNET_CONFIGS", str(tmp_path / "mine"))
    assert rp.recipe_config("drive", "paper") == tmp_path / "mine" / "drive.yaml"
    with pytest.raises(UserError, match="no cpu recipe"):
        rp.recipe_config("drive", "cpu")


def test_labels_round_trip():
    assert rp.recipe_label("cpu", 5) == "cpu-5min" and parse_label("cpu-5min") == ("cpu", 5.0)
    assert rp.recipe_label("paper", 12.5) == "paper-12.5min" and parse_label("paper") == (
        "paper",
        None,
    )


def test_collect_run_into_a_named_folder(tmp_path, fake_train):
    rp.reproduce(["drive"], "cpu", models=["sa-unet"], out=tmp_path / "runs", results_dir=None)
    run_dir = tmp_path / "runs" / "cpu" / "drive" / "sa-unet" / "seed0"
    (run_dir / "eval" / "probs").mkdir()
    (run_dir / "eval" / "probs" / "01_test.png").write_bytes(b"png")
    dest = collect_run(run_dir, tmp_path / "results", dest=tmp_path / "results" / "drive-cpu",
                          note="GPU shared with 3 other runs")  # fmt: skip
    assert dest == tmp_path / "results" / "drive-cpu"
    assert (dest / "probs" / "figure-1.png").read_bytes() == b"png"
    run = json.loads((dest / "run.json").read_text())
    assert run["note"] == "GPU shared with 3 other runs"
    assert (run["recipe_label"], run["dataset"], run["model"], run["seed"]) == (
        "cpu",
        "drive",
        "sa-unet",
        0,
    )


def test_epoch_budget_label_and_overrides():
    from saunet.reporting.reproduce import _run_overrides, recipe_label

    assert recipe_label("cpu", epochs=20) == "cpu-20ep"
    assert recipe_label("cpu", minutes=5) == "cpu-5min"
    ov = _run_overrides("unet18", 1, None, [], epochs=20)
    assert "train.epochs=20" in ov and "train.clock=epochs" in ov and "train.max_minutes=null" in ov
