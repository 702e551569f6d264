"""research/soup_weights.py: a soup of tiny fine-tuning runs on the DRIVE validation images,
written as a run directory with its evaluations; refusals leave nothing behind."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from soup import average_states

from saunet.models.checkpoint import read_checkpoint
from saunet.utils.files import file_sha256

TOOL = Path(__file__).resolve().parents[1] / "soup_weights.py"
VAL = ["25_training", "40_training"]
CHANNELS = (4, 8)


def _tool():
    spec = importlib.util.spec_from_file_location("soup_weights", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp: Path, name: str, seed: int, start: Path, tiny_checkpoint, val=VAL) -> Path:
    run = tmp / name
    run.mkdir()
    (run / "config.yaml").write_text(f"name: {name}\n")
    # The whole run's epochs and wall time (the best checkpoint holds those at its epoch).
    (run / "last.json").write_text(json.dumps({"epoch": 19, "elapsed_seconds": 600.0 * seed}))
    tiny_checkpoint(
        run / "best.safetensors", seed=seed, channels=CHANNELS,
        init_weights={"spec": str(start), "file": start.name, "sha256": file_sha256(start)},
        run_config={"name": name, "data": {"dataset": "drive"}, "train": {"select": "auc"}},
        data={"train": ["21_training"], "val": val}, epoch=9, best_epoch=7,
        elapsed_seconds=60.0 * seed, hardware={"cpu": "test CPU", "threads": 1},
    )  # fmt: skip
    return run


@pytest.fixture
def runs(tmp_path, tiny_checkpoint):
    start = tiny_checkpoint(tmp_path / "start.safetensors", seed=0, channels=CHANNELS)
    return start, [_run(tmp_path, f"run{k}", k, start, tiny_checkpoint) for k in (1, 2)]


def test_soup_run_directory(runs, tmp_path, shared_data_root, one_thread):
    start, (a, b) = runs
    out = tmp_path / "soup"
    argv = [str(a), str(b), "--out", str(out), "--data-root", str(shared_data_root)]
    assert _tool().main(argv) == 0
    tensors, meta = read_checkpoint(out / "best.safetensors")
    soup = meta["soup"]
    names = [i["name"] for i in soup["ingredients"]]
    assert names == ["start", str(a), str(b)]
    chosen = [i for i in soup["ingredients"] if i["chosen"]]
    assert chosen and soup["validation_fov_auc"] >= max(
        i["validation_fov_auc"] for i in soup["ingredients"]
    )
    # The shipped tensors are the plain average of the chosen ingredients' tensors.
    expected = average_states([read_checkpoint(Path(i["file"]))[0] for i in chosen])
    assert all(torch.equal(tensors[k], expected[k]) for k in tensors)
    runs_in = [i for i in chosen if i["name"] != "start"]
    assert all(i["epoch"] == 19 for i in runs_in)
    assert meta["elapsed_seconds"] == sum(600.0 * int(i["name"][-1]) for i in runs_in)
    # The soup's own last.json (what collect_run reports), not its first run's.
    last = json.loads((out / "last.json").read_text())
    assert last["elapsed_seconds"] == meta["elapsed_seconds"] and "epoch" not in last
    assert not (out / "last.safetensors").exists()
    rows = (out / "soup.csv").read_text().splitlines()
    assert rows[0].startswith("ingredient,") and len(rows) == 1 + 3 + 1
    assert (out / "config.yaml").read_text() == "name: run1\n"
    for sub in ("eval", "eval-val-f1"):
        doc = json.loads((out / sub / "metrics.json").read_text())
        assert 0.0 <= doc["protocols"]["fov"]["pooled"]["auc"] <= 1.0


def test_refuses_runs_from_another_start(runs, tmp_path, tiny_checkpoint, capsys):
    start, (a, _) = runs
    other = tiny_checkpoint(tmp_path / "other.safetensors", seed=5, channels=CHANNELS)
    stranger = _run(tmp_path, "stranger", 3, other, tiny_checkpoint)
    out = tmp_path / "soup"
    assert _tool().main([str(a), str(stranger), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "stranger" in err and "started from other weights" in err
    assert not out.exists()


def test_refuses_other_validation_images(runs, tmp_path, tiny_checkpoint, capsys):
    start, (a, _) = runs
    odd = _run(tmp_path, "odd", 3, start, tiny_checkpoint, val=["26_training", "40_training"])
    assert _tool().main([str(a), str(odd), "--out", str(tmp_path / "soup")]) == 2
    assert "other held-out validation images" in capsys.readouterr().err


def test_refuses_a_non_empty_out(runs, tmp_path, capsys):
    _, (a, b) = runs
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("user's file")
    assert _tool().main([str(a), str(b), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "user's file"


def test_training_only_settings_do_not_split_a_soup_but_the_network_does(
    tmp_path, tiny_checkpoint, capsys
):
    sw = _tool()
    base = {"model_config": {"channels": [4, 8], "drop_prob": 0.05, "block_size": 7}}
    other_drop = {"model_config": {"channels": [4, 8], "drop_prob": 0.0, "block_size": 3}}
    wider = {"model_config": {"channels": [4, 16], "drop_prob": 0.05, "block_size": 7}}
    assert sw._network(base) == sw._network(other_drop)
    assert sw._network(base) != sw._network(wider)
    start = tiny_checkpoint(tmp_path / "start.safetensors", seed=0, channels=CHANNELS)
    a = _run(tmp_path, "a", 1, start, tiny_checkpoint)
    wide = tmp_path / "wide"
    wide.mkdir()
    tiny_checkpoint(
        wide / "best.safetensors", seed=2, channels=(4, 16),
        init_weights={"spec": str(start), "file": start.name, "sha256": file_sha256(start)},
        run_config={"name": "wide", "data": {"dataset": "drive"}}, data={"val": VAL},
    )  # fmt: skip
    assert sw.main([str(a), str(wide), "--out", str(tmp_path / "soup")]) == 2
    assert "another network" in capsys.readouterr().err


def test_runs_without_validation_make_only_a_uniform_soup(
    tmp_path, tiny_checkpoint, shared_data_root, one_thread, capsys
):
    start = tiny_checkpoint(tmp_path / "start.safetensors", seed=0, channels=CHANNELS)
    a, b = (_run(tmp_path, f"all{k}", k, start, tiny_checkpoint, val=[]) for k in (1, 2))
    out = tmp_path / "soup"
    argv = [str(a), str(b), "--no-start", "--out", str(out), "--data-root", str(shared_data_root)]
    assert _tool().main(argv) == 2
    assert "nothing to choose on; use --recipe uniform" in capsys.readouterr().err
    assert not out.exists()
    assert _tool().main([*argv, "--recipe", "uniform"]) == 0
    tensors, meta = read_checkpoint(out / "best.safetensors")
    assert meta["soup"]["validation_fov_auc"] is None and meta["best"] is None
    assert [i["chosen"] for i in meta["soup"]["ingredients"]] == [True, True]
    assert all(i["validation_fov_auc"] is None for i in meta["soup"]["ingredients"])
    expected = average_states([read_checkpoint(r / "best.safetensors")[0] for r in (a, b)])
    assert all(torch.equal(tensors[k], expected[k]) for k in tensors)
    assert (out / "soup.csv").read_text().splitlines()[-1] == "soup,,,,2"
    assert (out / "eval" / "metrics.json").is_file() and not (out / "eval-val-f1").exists()
