"""tools/ship_weights.py: a model card keeps the whole lineage of a multi-stage recipe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from saunet.checkpoint import file_sha256

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

    from saunet.checkpoint import save_checkpoint

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

    meta = {"threshold": {"fov": 0.37}, "threshold_source": "start", "epoch": 119,
            "best_epoch": 119, "data": {"train": ["a"] * 20, "val": []}}  # fmt: skip
    run = {"train": {"select": "auc"}}
    assert "carried over from the weights it started from" in sw._threshold_line(meta)
    assert sw._split_text(meta) == "all 20 training images; none held out for validation"
    assert (
        sw._selection_text(meta, run)
        == "the last of 120 epochs (no validation images to select on)"
    )
    held = {**meta, "best_epoch": 70, "data": {"train": ["a"] * 18, "val": ["b", "c"]}}
    assert sw._split_text(held) == "18 training / 2 held-out validation images"
    assert sw._selection_text(held, run) == "best epoch 71 of 120 (selected on validation AUC)"
    assert "maximises F1" in sw._threshold_line({"threshold": {"fov": 0.37}})


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
