"""tools/ship_weights.py: a model card is its template filled in with the run's facts, and
keeps the whole lineage of a multi-stage recipe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from saunet.utils.files import file_sha256

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ship_weights.py"


def _tool():
    spec = importlib.util.spec_from_file_location("ship_weights", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _card(path: Path, stage: str, older: str = "") -> None:
    text = f"# sa-unet-drive\n\nintro\n\n## Training\n\n- command: `{stage}`\n- seed: 0\n"
    if older:
        text += f"\n## Earlier stage: the weights it started from (sha256 abc...)\n\n- command: `{older}`\n"
    text += "\n## Test metrics\n\n| a | b |\n"
    path.write_text(text)


def test_earlier_stage_carries_every_older_stage(tmp_path):
    sw = _tool()
    weights = tmp_path / "sa-unet-drive.safetensors"
    weights.write_bytes(b"tensors")
    _card(tmp_path / "sa-unet-drive.md", "stage 2", older="stage 1")
    init = {"spec": "drive", "file": weights.name, "sha256": file_sha256(weights)}
    text = "\n".join(sw.earlier_stage(tmp_path, init))
    assert text.index("`stage 2`") < text.index("`stage 1`")
    assert text.count("## Earlier stage") == 2
    assert "Test metrics" not in text and "seed: 0" in text


def test_earlier_stage_needs_the_recorded_weights(tmp_path):
    sw = _tool()
    weights = tmp_path / "sa-unet-drive.safetensors"
    weights.write_bytes(b"tensors")
    _card(tmp_path / "sa-unet-drive.md", "stage 2")
    init = {"spec": "drive", "file": weights.name, "sha256": "0" * 64}  # replaced since
    assert sw.earlier_stage(tmp_path, init) == []
    assert sw.earlier_stage(tmp_path, None) == []


def test_soup_lines_name_every_ingredient():
    sw = _tool()
    ing = dict(sha256="f" * 64, config="drive-cpu-context", seed=1, best_epoch=9, epoch=19,
               elapsed_seconds=600.0, cpu="AMD EPYC", threads=1, distill_weight=None)  # fmt: skip
    soup = {
        "recipe": "greedy",
        "validation_fov_auc": 0.9763,
        "command": "python tools/soup_weights.py runs/a runs/b --out runs/s",
        "ingredients": [
            {
                **ing,
                "name": "start",
                "file": "w/sa-unet-drive.safetensors",
                "start": True,
                "validation_fov_auc": 0.9761,
                "chosen": True,
            },
            {
                **ing,
                "name": "runs/a",
                "file": "runs/a/best.safetensors",
                "validation_fov_auc": 0.9762,
                "chosen": True,
            },
            {
                **ing,
                "name": "runs/b",
                "file": "runs/b/best.safetensors",
                "distill_weight": 0.5,
                "validation_fov_auc": 0.9760,
                "chosen": False,
            },
        ],  # fmt: skip
    }
    text = "\n".join(sw._soup_lines(soup))
    assert "average of 2 of 3 networks" in text and "0.97630" in text and "0.97620" in text
    assert "the start (sa-unet-drive.safetensors" in text
    assert "`runs/a` (config `drive-cpu-context`, seed 1, best epoch 10 of 20, 10.0 min" in text
    assert text.count("in the soup") == 2 and text.count("left out") == 1
    assert "self-distillation weight 0.5" in text
    assert soup["command"] in text


def _metrics(auc_fov: float, threshold: float = 0.5) -> dict:
    pooled = {k: 0.9 for k in ("se", "sp", "acc", "f1", "mcc")}
    return {
        "data": {"n_images": 20},
        "protocols": {
            p: {
                "threshold": threshold,
                "pooled": {**pooled, "auc": auc_fov + (p == "paper") * 0.006},
            }
            for p in ("paper", "fov")
        },
        "second_observer": {p: {"pooled": {**pooled, "auc": 0.87}} for p in ("paper", "fov")},
    }


def test_the_bar_is_judged_on_one_pass_and_tta_is_stated_beside_it():
    sw = _tool()
    fixed, valf1, tta = _metrics(0.9815), _metrics(0.9815, 0.3715), _metrics(0.9821)
    text = "\n".join(sw.metrics_lines("drive", "drive", fixed, valf1, tta))
    assert "| fov | 0.5, `--tta` (4 flips) | 0.9000 | 0.9000 | 0.9000 | 0.9821 |" in text
    assert "| fov | 0.3715 (val-F1) |" in text
    assert "reach 0.9815 (**misses it by 0.0005**)" in text
    assert "With `--tta`" in text and "reach 0.9821; the bar is not judged" in text
    assert "saunet evaluate --checkpoint drive --dataset drive --data-root DATA --tta" in text
    plain = "\n".join(sw.metrics_lines("chase", "chase", _metrics(0.9871), None))
    assert "(meets it)" in plain and "--tta" not in plain and "val-F1" not in plain


def test_replacing_the_metrics_section_keeps_the_rest_of_the_card():
    sw = _tool()
    fixed = _metrics(0.9815)
    old = "# sa-unet-drive\n\n## Training\n\n- seed: 0\n\n"
    old += "\n".join([*sw.metrics_lines("drive", "drive", fixed, None), "", "Reproduce: `x`", ""])
    new = sw.replace_metrics_section(old, sw.metrics_lines("drive", "drive", fixed, None, fixed))
    assert new.startswith("# sa-unet-drive\n\n## Training\n\n- seed: 0\n\n## Test metrics")
    assert new.endswith("\n\nReproduce: `x`\n") and new.count("## Test metrics") == 1
    assert "`--tta` (4 flips)" in new and "`--tta`" not in old
    with pytest.raises(ValueError, match="no test-metrics section"):
        sw.replace_metrics_section("# card without metrics\n", [])


def test_a_run_without_validation_carries_its_starts_threshold(tmp_path):
    import torch

    from saunet.models.checkpoint import save_checkpoint

    sw = _tool()
    start = save_checkpoint(
        tmp_path / "sa-unet-drive.safetensors",
        {"w": torch.zeros(2)},
        {"threshold": {"paper": 0.41, "fov": 0.37}},
        sidecar=False,
    )
    init = {"spec": "drive", "file": start.name, "sha256": file_sha256(start)}
    assert sw.start_threshold(tmp_path, init) == {"paper": 0.41, "fov": 0.37}
    assert sw.start_threshold(tmp_path, {**init, "sha256": "0" * 64}) is None
    assert sw.start_threshold(tmp_path, None) is None

    meta = _meta("drive-cpu", val=(), threshold={"paper": 0.41, "fov": 0.37},
                 threshold_source="start", epoch=119, best_epoch=119)  # fmt: skip
    run = {"train": {"select": "auc"}}
    text = sw.card("drive", meta, _evals(valf1=False), "drive-cpu", "", tmp_path)
    assert "- segmentation threshold: 0.3700 (carried over from the weights it started" in text
    assert "maximises F1" not in text and "(val-F1)" not in text
    assert "| - (none held out) |" in text
    assert sw._split_text(meta) == "all 20 training images; none held out for validation"
    assert (
        sw._selection_text(meta, run)
        == "the last of 120 epochs (no validation images to select on)"
    )
    held = {**meta, "best_epoch": 70, "data": {"train": ["a"] * 18, "val": ["b", "c"]}}
    assert sw._split_text(held) == "18 training / 2 held-out validation images"
    assert sw._selection_text(held, run) == "best epoch 71 of 120 (selected on validation AUC)"
    text = sw.card("drive", _meta("drive-cpu"), _evals(), "drive-cpu", "", tmp_path)
    assert "- segmentation threshold: 0.3715 (maximises F1 inside the FOV" in text
    assert "carried over" not in text and "| 0.9757 |" in text


def test_a_soup_fixed_in_advance_says_so_and_prints_no_scores():
    sw = _tool()
    ing = dict(sha256="f" * 64, config="drive-cpu-alldata", seed=0, best_epoch=79, epoch=79,
               elapsed_seconds=3000.0, cpu="AMD EPYC", threads=1, distill_weight=None,
               validation_fov_auc=None, chosen=True)  # fmt: skip
    soup = {"recipe": "uniform", "validation_fov_auc": None, "command": "soup",
            "ingredients": [{**ing, "name": "runs/a", "file": "runs/a/best.safetensors"},
                            {**ing, "name": "runs/b", "file": "runs/b/best.safetensors"}]}  # fmt: skip
    text = "\n".join(sw._soup_lines(soup))
    assert "average of 2 of 2 networks" in text and "fixed in advance" in text
    assert "validation FOV AUC" not in text and text.count(": in the soup") == 2
    assert "seed 0, the last of 80 epochs, 50.0 min" in text


def _meta(name: str, val=("b", "c"), **extra) -> dict:
    """Shipped metadata of a CPU run of recipe ``name`` (main() adds threshold, scale...)."""
    return {
        "run_config": {
            "name": name,
            "data": {"dataset": "drive", "patch_size": 96},
            "train": {"select": "auc", "clock": "time", "ema_decay": 0.999},
        },
        "data": {"train": ["a"] * (20 - len(val)), "val": list(val)},
        "seed": 0, "epoch": 99, "best_epoch": 49, "elapsed_seconds": 3600.0,
        "metrics": {"val_auc": 0.9757},
        "hardware": {"cpu": "AMD EPYC", "threads": 1, "device": "cpu", "torch": "2.x"},
        "threshold": {"paper": 0.3715, "fov": 0.3715}, "threshold_source": "val-f1",
        "scale": {"fov_diameter_px": 540.0, "field_angle_deg": 45.0},
        "training_command": f"saunet train --config X --out runs/{name}",
        **extra,
    }  # fmt: skip


def _evals(valf1: bool = True, tta: bool = False) -> dict:
    return {
        "eval": _metrics(0.9815),
        "eval-val-f1": _metrics(0.9815, 0.3715) if valf1 else None,
        "eval-tta": _metrics(0.9821) if tta else None,
    }


def test_fill_leaves_out_lines_naming_facts_the_run_did_not_record():
    sw = _tool()
    template = "a: $a\nb: $b (of $a)\nc: ${c}x\nliteral $$5"
    assert sw.fill(template, {"a": 1, "c": None}) == "a: 1\nliteral $5"


def test_a_card_has_the_shape_of_the_shipped_ones(tmp_path):
    sw = _tool()
    text = sw.card("drive", _meta("drive-cpu"), _evals(tta=True), "drive-cpu", "quiet", tmp_path)
    heads = [line for line in text.splitlines() if line.startswith("#")]
    assert heads[0] == "# sa-unet-drive" and [h.split(" (")[0] for h in heads[1:]] == [
        "## Lineage", "## Training", "## Test metrics", "## Licence and data"]  # fmt: skip
    assert "$" not in text and "--out eval-drive`.\n" in text
    assert "Derived from DRIVE" in text and "Data terms" in text
    assert "**Recipe: CPU recipe** (`drive-cpu`)" in text
    assert "18 training / 2 held-out validation images" in text
    assert "| 1 | `drive-cpu/` (shipped) | `configs/drive-cpu.yaml` | AMD EPYC (1 thread" in text
    assert "| 0.9757 | 0.9815 (0.9875 / 0.9000 / 0.9000) | - |" in text
    assert (
        "- config: `configs/drive-cpu.yaml` (resolved copy in `results/drive-cpu/config.yaml`)"
        in text
    )
    assert "- seed: 0; best epoch 50 of 100 (selected on validation AUC)" in text
    assert "moving average of the weights (decay 0.999)" in text and "initialised" not in text
    assert "- wall time: 60.0 min of training on AMD EPYC (1 thread, cpu; torch 2.x), quiet" in text
    assert "| fov | 0.5, `--tta` (4 flips) |" in text and "reach 0.9821" in text
    assert "Reproduce: `saunet train --config X --out runs/drive-cpu`, then" in text


def test_a_card_carries_the_lineage_of_the_card_it_started_from(tmp_path):
    sw = _tool()
    first = sw.card("drive", _meta("drive-cpu"), _evals(), "drive-cpu-105min", "", tmp_path)
    (tmp_path / "sa-unet-drive.md").write_text(first)
    weights = tmp_path / "sa-unet-drive.safetensors"
    weights.write_bytes(b"tensors")
    init = {"spec": "drive", "file": weights.name, "sha256": file_sha256(weights)}
    meta = _meta("drive-cpu-lowdrop", init_weights=init)
    second = sw.card("drive", meta, _evals(), "drive-cpu-lowdrop", "", tmp_path)
    assert "| 1 | `drive-cpu-105min/` | `configs/drive-cpu.yaml` |" in second
    assert (
        "| 2 | `drive-cpu-lowdrop/` (shipped) | `research/configs/drive-cpu-lowdrop.yaml` |"
        in second
    )
    assert second.count("(shipped)") == 1
    assert (
        f"- initialised from `drive` (sa-unet-drive.safetensors, sha256 {init['sha256'][:16]}"
        in second
    )
    training, earlier = second.split("## Training")[1].split("## Earlier stage")
    assert "`saunet train --config X --out runs/drive-cpu-lowdrop`" in training
    assert "`saunet train --config X --out runs/drive-cpu`" in earlier.split("## Test metrics")[0]
    assert "- config: `research/configs/drive-cpu-lowdrop.yaml`" in training


def test_a_soups_card_lists_its_ingredients_instead_of_a_config(tmp_path):
    sw = _tool()
    ing = dict(sha256="f" * 64, config="drive-cpu-context", seed=1, best_epoch=9, epoch=19,
               elapsed_seconds=600.0, cpu="AMD EPYC", threads=1, validation_fov_auc=0.9762)  # fmt: skip
    soup = {"recipe": "greedy", "validation_fov_auc": 0.97633, "command": "soup_weights.py",
            "ingredients": [{**ing, "name": "runs/a", "file": "a", "chosen": True},
                            {**ing, "name": "runs/b", "file": "b", "chosen": False}]}  # fmt: skip
    text = sw.card(
        "drive", _meta("drive-cpu-context", soup=soup), _evals(), "drive-soup2", "", tmp_path
    )
    assert "- weight soup (greedy recipe, Wortsman et al. 2022): the average of 1 of 2" in text
    assert text.count("  - `runs/") == 2 and "- config:" not in text and "- seed:" not in text
    assert "exponential moving average" not in text
    assert "| greedy soup of 2 `research/configs/drive-cpu-context.yaml` runs |" in text
    assert (
        "| 0.9763 |" in text and "60.0 min of fine-tuning, summed over the runs in the soup" in text
    )
