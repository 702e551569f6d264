import csv
from pathlib import Path

import pytest
import torch

from saunet.errors import UserError
from saunet.models.checkpoint import load_model, read_checkpoint
from saunet.training import TrainingDiverged, train


def test_one_run_writes_a_complete_run_directory(tiny_dataset, tiny_config, tmp_path, monkeypatch):
    # a folder dataset needs no data root, even when $SAUNET_DATA names a missing folder
    monkeypatch.setenv("SAUNET_DATA", str(tmp_path / "missing"))
    run = tmp_path / "run"
    summary = train(tiny_config(tiny_dataset), run, progress=False)
    for name in ["config.yaml", "log.csv", "best.safetensors", "best.json", "last.safetensors",
                 "last.json", "curves.png", "eval/metrics.json", "eval/table.md"]:  # fmt: skip
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_acc", "val_auc", "val_f1", "lr", "seconds"} <= set(
        rows[0]
    )
    assert summary["epochs_done"] == 2
    model, meta = load_model(run)  # a checkpoint rebuilds its own network
    assert model.config.channels == (4, 8, 16)
    assert meta["seed"] == 3 and "train" in meta["data"]
    _, last = read_checkpoint(run / "last.safetensors")
    assert "optimizer" in last


def test_refuses_to_overwrite_a_run(tiny_dataset, tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "mine.txt").write_text("user data")
    with pytest.raises(UserError, match="not empty"):
        train(tiny_config(tiny_dataset), run, progress=False)
    assert (run / "mine.txt").read_text() == "user data"


def test_resume_equals_uninterrupted_run(tiny_dataset, tiny_config, tmp_path):
    full = tmp_path / "full"
    train(tiny_config(tiny_dataset, epochs=3), full, progress=False, evaluate_test=False)
    # max_minutes=0 stops after the first epoch, like a run killed between epochs
    part = tmp_path / "part"
    s = train(tiny_config(tiny_dataset, epochs=3, max_minutes=0.0), part, progress=False,
              evaluate_test=False)  # fmt: skip
    assert s["epochs_done"] == 1 and s["stopped_early"]
    import yaml

    cfg = yaml.safe_load((part / "config.yaml").read_text())
    cfg["train"]["max_minutes"] = None
    (part / "config.yaml").write_text(yaml.safe_dump(cfg))
    train(tiny_config(tiny_dataset), part, resume=True, progress=False, evaluate_test=False)
    a, _ = read_checkpoint(full / "last.safetensors")
    b, meta = read_checkpoint(part / "last.safetensors")
    assert meta["epoch"] == 2
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_divergence_stops_with_a_clear_error(tiny_dataset, tiny_config, tmp_path, monkeypatch):
    import saunet.training.loop as loop

    monkeypatch.setattr(loop, "loss_fn", lambda *a: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train(tiny_config(tiny_dataset), tmp_path / "run", progress=False)


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        train(None, tmp_path, resume=True)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_exact(tiny_dataset, tiny_config, tmp_path):
    import json
    import signal
    import subprocess
    import sys
    import time

    import yaml

    cfg = tiny_config(tiny_dataset, epochs=6)
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.to_dict()))
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "saunet", "train", "--config", str(cfg_path), "--out", str(run),
           "--no-test-eval"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        side = run / "last.json"
        if side.is_file() and json.loads(side.read_text())["epoch"] >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, meta = read_checkpoint(run / "last.safetensors")  # never corrupt
    assert meta["epoch"] < 5, "run finished before it could be killed"
    subprocess.run(cmd[:4] + ["--resume", str(run), "--no-test-eval"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    full = tmp_path / "full"
    train(cfg, full, progress=False, evaluate_test=False)
    a, _ = read_checkpoint(full / "last.safetensors")
    b, _ = read_checkpoint(run / "last.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_paper_data_protocol_runs_through_the_loop(tiny_dataset, tiny_config, tmp_path):
    """Offline expansion (each original -> 13 images) with the paper's random validation
    subset of the expanded set, whole images, step schedule: the paper recipe's data path."""
    cfg = tiny_config(tiny_dataset, epochs=1, schedule="step", lr_milestones=[100])
    cfg.data.augmentation = "offline"
    cfg.data.validation = "paper"
    cfg.data.val_count = 5
    summary = train(cfg, tmp_path / "run", progress=False, evaluate_test=False)
    _, meta = read_checkpoint(tmp_path / "run" / "last.safetensors")
    assert len(meta["data"]["train"]) + len(meta["data"]["val"]) == 4 * 13
    assert len(meta["data"]["val"]) == 5
    assert summary["epochs_done"] == 1


def test_a_run_stopped_by_its_time_budget_validates_its_last_epoch(
    tiny_dataset, tiny_config, tmp_path
):
    # eval_every=5 would validate no epoch of a run stopped after one: the stopping epoch
    # is validated anyway, so the run still has a best checkpoint to evaluate.
    run = tmp_path / "run"
    s = train(tiny_config(tiny_dataset, epochs=10, eval_every=5, max_minutes=0.0), run,
              progress=False, evaluate_test=False)  # fmt: skip
    assert s["epochs_done"] == 1 and s["stopped_early"]
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert rows[0]["val_auc"] != "nan"
    assert (run / "best.safetensors").is_file()


def test_data_online_ops_pick_the_transforms_a_run_applies(
    tiny_dataset, tiny_config, tmp_path, monkeypatch
):
    from saunet.data.online import OnlineAugment

    used = []
    real_call = OnlineAugment.__call__

    def spy(self, batch, generator=None):
        used.append(repr(self))
        return real_call(self, batch, generator)

    monkeypatch.setattr(OnlineAugment, "__call__", spy)
    cfg = tiny_config(tiny_dataset, epochs=1)
    cfg.data.online_ops = ["flips", "rot90"]
    train(cfg, tmp_path / "run", progress=False, evaluate_test=False)
    assert used and set(used) == {"OnlineAugment(flips, rot90)"}
    import yaml

    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["online_ops"] == ["flips", "rot90"]


def test_split_seed_reaches_the_run_split(tiny_dataset, tiny_config):
    from saunet.training.loop import load_training_data

    def val(seed, split_seed=None):
        cfg = tiny_config(tiny_dataset, seed=seed)
        cfg.data.val_count = 2
        cfg.data.split_seed = split_seed
        return sorted(load_training_data(cfg, None).val.names)

    assert {tuple(val(s)) for s in range(5)} != {tuple(val(0))}
    assert all(val(s, split_seed=0) == val(0) for s in range(5))


def test_two_datasets_at_one_calibre_each_hold_out_their_own(shared_data_root):
    from saunet.config import load_config
    from saunet.data.calibre import px_per_degree
    from saunet.training.loop import load_training_data

    cfg = load_config(
        Path(__file__).resolve().parents[2] / "configs" / "general.yaml",
        [f"data.root={shared_data_root}"],
    )
    data = load_training_data(cfg, None)
    assert len(data.train) == 36 and len(data.val) == 4
    assert sum(n.startswith("Image_") for n in data.val.names) == 2  # 2 of CHASE_DB1
    fov = data.val.tensors["fov"][:, 0].numpy() > 0
    for name, f in zip(data.val.names, fov, strict=True):
        angle = 30.0 if name.startswith("Image_") else 45.0
        assert px_per_degree(f, angle) == pytest.approx(20.0, rel=0.01)
