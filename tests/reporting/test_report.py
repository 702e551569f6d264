"""REPORT.md from a fabricated results folder: content, labels, determinism, figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.evaluation.outputs import to_json
from saunet.evaluation.protocols import evaluate_maps, second_observer_metrics
from saunet.paper import ABLATION_MODELS
from saunet.reporting.build import build_report

SIZE = 40
HW = {"device": "cpu", "cpu": "Test CPU", "threads": 2, "processes": 1, "torch": "x"}


def _samples(n: int, prefix: str) -> list[dict]:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    fov = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < (SIZE / 2 - 1) ** 2
    out = []
    for i in range(n):
        label = np.zeros((SIZE, SIZE), bool)
        for _ in range(3):
            a, b, c = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-10, 10)
            label |= np.abs(a * (xx - SIZE / 2) + b * (yy - SIZE / 2) + c) < 1.0
        label &= fov
        second = label.copy()
        second[rng.random(label.shape) < 0.02] ^= True
        out.append({"name": f"{prefix}{i + 1:02d}" if prefix != "drive" else f"{i + 1:02d}_test",
                    "label": label, "fov": fov, "second_label": second & fov,
                    "image": np.stack([0.8 - 0.4 * label, 0.4 - 0.2 * label, 0.2 + 0 * label], -1)})  # fmt: skip
    return out


def fabricate(results: Path, label: str = "cpu-5min", datasets=("drive", "chase"),
              models=ABLATION_MODELS, seeds=(0,)) -> dict[str, list[dict]]:  # fmt: skip
    """A results folder as collect_run writes it, with synthetic metrics (no training)."""
    all_samples = {}
    for ds in datasets:
        samples = _samples(6, "drive" if ds == "drive" else "Image_1")
        if ds == "chase":
            for s, n in zip(samples, ["Image_11L", "Image_11R", "Image_12L", "Image_12R",
                                      "Image_13L", "Image_13R"], strict=True):  # fmt: skip
                s["name"] = n
        all_samples[ds] = samples
        for k, model in enumerate(models):
            for seed in seeds:
                rng = np.random.default_rng(100 * k + seed)
                probs = [np.clip(0.25 + 0.5 * s["label"] + rng.normal(0, 0.35 - 0.04 * k, (SIZE, SIZE)), 0, 1)
                         for s in samples]  # fmt: skip
                doc = {"source": "checkpoint", "data": {"dataset": ds, "split": "test"},
                       "protocols": evaluate_maps(probs, samples),
                       "second_observer": second_observer_metrics(samples)}  # fmt: skip
                d = results / label / ds / model / f"seed{seed}"
                d.mkdir(parents=True)
                (d / "metrics.json").write_text(to_json(doc))
                (d / "probs").mkdir()
                Image.fromarray(np.round(probs[0] * 255).astype(np.uint8)).save(
                    d / "probs" / "figure-1.png"
                )
                (d / "log.csv").write_text(
                    "epoch,train_loss,val_loss,val_acc,val_auc,val_f1,lr\n"
                    + "".join(f"{e},{1 / e:.3f},{1.2 / e:.3f},0.9,{0.8 + e / 100:.3f},0.7,0.001\n" for e in range(1, 6))
                )  # fmt: skip
                (d / "config.yaml").write_text(
                    f"name: {ds}-cpu\nmodel: {{name: {model}, drop_prob: 0.18}}\n"
                    "data: {augmentation: online, patch_size: 128}\ntrain: {epochs: 100, clock: time}\n"
                )
                run = {"recipe_label": label, "config": f"{ds}-cpu", "dataset": ds, "model": model,
                       "seed": seed, "epochs_done": 12 + k, "epochs_planned": 100, "best_epoch": 10,
                       "wall_minutes": 5.02, "hardware": HW}  # fmt: skip
                (d / "run.json").write_text(json.dumps(run))
    return all_samples


def test_report_has_every_section_and_labels(tmp_path):
    results = tmp_path / "results"
    fabricate(results, seeds=(0, 1))
    md = build_report(results, tmp_path / "REPORT.md").read_text()
    for heading in ("## 1. How to regenerate", "## 2. Hardware", "## 3. Ablation", "## 4. Paired",
                    "## 5. Table IV", "## 6. Figures", "## 7. Where our numbers differ"):  # fmt: skip
        assert heading in md, heading
    assert "saunet report results --out REPORT.md" in md
    assert "saunet reproduce --dataset all --recipe cpu --minutes 5 --seeds 2" in md
    # every ablation table names the CPU recipe and disowns the paper protocol
    assert (
        md.count("Trained with: CPU recipe (configs/chase-cpu.yaml), 5-minute budget per model")
        == 2
    )
    assert "not the paper's 150-epoch training protocol" in md
    assert "Trained with: paper recipe" not in md
    for row in (
        "| U-Net |",
        "| U-Net + SA |",
        "| SD-Unet |",
        "| Backbone |",
        "| SA-UNet |",
        "| 2nd observer |",
    ):
        assert row in md
    assert "| | paper (Table II) | 0.8212 | 0.9840 | 0.9698 | 0.9864 | 0.8263 | 0.8097 |" in md
    assert "Δ ours − paper" in md and " ± " in md  # deltas and spread over 2 seeds
    assert "| `sa-unet` | SA-UNet | 537,299 | 1,408 | 537,299 / 1,408 |" in md
    assert "Wilcoxon" in md and "SA-UNet vs Backbone (seed 0, protocol `paper`)" in md
    assert "`data.augmentation` = online (paper's recipe: offline)" in md
    assert (results / "figures" / "curves-cpu-5min-drive.png").is_file()
    assert "](results/figures/curves-cpu-5min-chase.png)" in md


def test_report_is_byte_for_byte_reproducible(tmp_path):
    results = tmp_path / "results"
    fabricate(results, datasets=("drive",), models=("unet18", "sa-unet"))
    out = tmp_path / "REPORT.md"
    first = build_report(results, out).read_bytes()
    second = build_report(results, out).read_bytes()
    assert first == second
    assert b"not run" in first  # missing ablation rows are shown, not hidden


def _fake_drive_root(root: Path, samples: list[dict]) -> Path:
    d = root / "DRIVE" / "test"
    for sub in ("images", "1st_manual", "mask"):
        (d / sub).mkdir(parents=True)
    for i in range(1, 21):
        s = samples[(i - 1) % len(samples)]
        Image.fromarray((s["image"] * 255).astype(np.uint8)).save(
            d / "images" / f"{i:02d}_test.tif"
        )
        Image.fromarray(s["label"].astype(np.uint8) * 255).save(
            d / "1st_manual" / f"{i:02d}_manual1.gif"
        )
        Image.fromarray(s["fov"].astype(np.uint8) * 255).save(d / "mask" / f"{i:02d}_test_mask.gif")
    return root


def test_image_figures_need_the_data_root_and_markdown_is_stable(tmp_path):
    results = tmp_path / "results"
    samples = fabricate(results, datasets=("drive",), models=("unet18", "backbone", "sa-unet"))
    out = tmp_path / "REPORT.md"
    build_report(results, out)
    fig5 = results / "figures" / "fig5-cpu-5min-drive-1.png"
    assert not fig5.exists() and "`fig5-cpu-5min-drive-1.png`" in out.read_text()
    root = _fake_drive_root(tmp_path / "data", samples["drive"])
    with_root = build_report(results, out, data_root=root).read_bytes()
    assert fig5.is_file() and (results / "figures" / "examples-cpu-5min-drive-1.png").is_file()
    assert b"](results/figures/fig5-cpu-5min-drive-1.png)" in with_root
    stamp = fig5.stat().st_mtime_ns
    assert build_report(results, out).read_bytes() == with_root  # no data root: kept, same text
    assert fig5.stat().st_mtime_ns == stamp


def test_optional_sections_read_defensively(tmp_path):
    results = tmp_path / "results"
    fabricate(results, datasets=("drive",), models=("sa-unet",))
    (results / "cross").mkdir()
    (results / "cross" / "a.json").write_text(json.dumps([
        {"weights": "weights/drive.safetensors", "dataset": "chase", "split": "test", "scale": 1.7,
         "fov_auc": 0.95, "fov_f1": 0.7}, "junk", {"dataset": "drive"}]))  # fmt: skip
    (results / "cross" / "broken.json").write_text("{not json")
    (results / "latency.json").write_text(json.dumps({
        "cpu": "Test CPU", "torch": "2.x", "date": "2025-01-01", "threads": 2, "repeats": 3,
        "models": {"sa-unet": {"fp32_ms": 812.345, "bf16_channels_last_ms": 301.2}}}))  # fmt: skip
    long = results / "drive-cpu-55min"
    long.mkdir()
    src = results / "cpu-5min" / "drive" / "sa-unet" / "seed0"
    (long / "metrics.json").write_text((src / "metrics.json").read_text())
    (long / "run.json").write_text(json.dumps({
        "epochs_done": 80, "wall_minutes": 28.0, "hardware": HW, "dataset": "drive",
        "config": "drive-cpu", "max_minutes": 55}))  # fmt: skip
    tuned = results / "chase-tuned"
    tuned.mkdir()
    (tuned / "metrics.json").write_text((src / "metrics.json").read_text())
    (tuned / "run.json").write_text(
        json.dumps(
            {"dataset": "chase", "config": "chase-ft", "note": "GPU shared with 1 other run"}
        )
    )
    (tuned / "config.yaml").write_text("train:\n  init_weights: drive\n")
    (long / "time_to_quality.csv").write_text(
        "epoch,minutes,fov_auc,fov_f1\n5,1.5,0.9,0.6\n10,3.0,0.95,0.7\n"
    )
    md = build_report(results, tmp_path / "REPORT.md").read_text()
    assert (
        "## 8. Cross-dataset generalization" in md
        and "| a.json | drive.safetensors | chase | test | 1.7 | 0.9500 | 0.7000 |" in md
    )
    assert "| 812.3 | 301.2 |" in md and "Test CPU" in md
    assert "## 9. Long single runs" in md and "| 10 | 3.0 | 0.95 | 0.7 |" in md
    assert "`drive-cpu-55min/` (recipe configs/drive-cpu.yaml with a 55-minute budget" in md
    assert "`chase-tuned/` (recipe configs/chase-ft.yaml, fine-tuned from `drive`" in md
    assert "hardware not recorded, GPU shared with 1 other run; not the paper's" in md
    assert "Table V;" in md and "Table VI;" in md


def test_missing_results_folder_is_a_clear_error(tmp_path):
    from saunet.errors import UserError

    with pytest.raises(UserError, match="results folder not found"):
        build_report(tmp_path / "nope", tmp_path / "REPORT.md")


def test_gflops_scaling_matches_a_full_size_count():
    import torch

    from saunet.models import build_model
    from saunet.models.profile import forward_flops
    from saunet.reporting.tables import _gflops

    torch.set_num_threads(1)
    model = build_model("sa-unet")
    assert _gflops(model, 120) == forward_flops(model, (120, 120)) / 1e9


def test_a_soup_is_reported_with_its_ingredients(tmp_path):
    from saunet.reporting.tables import long_runs_table

    run = tmp_path / "drive-soup"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"dataset": "drive", "config": "drive-cpu-context"}))
    (run / "metrics.json").write_text(json.dumps({}))
    (run / "soup.csv").write_text(
        "ingredient,sha256,validation_fov_auc,soup_fov_auc_with_it,chosen\n"
        "start,aa,0.976072,0.976235,0\nruns/a,bb,0.976243,,1\nruns/b,cc,0.976232,0.976293,1\n"
        "soup,,0.976293,,2\n"
    )
    text = "\n".join(long_runs_table(tmp_path))
    assert "the average of 2 of 3 networks" in text
    assert "| runs/b | 0.976232 | 0.976293 | yes |" in text
    assert "| start | 0.976072 | 0.976235 | no |" in text
    assert "recipe configs/drive-cpu-context.yaml" not in text  # a soup has no single recipe


def _long_run(results: Path, name: str, dataset: str, auc: float) -> tuple[Path, dict]:
    """A collected long run (``run.json`` and a test ``metrics.json``) and its metrics."""
    run = results / name
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"dataset": dataset, "config": f"{dataset}-cpu"}))
    pooled = {"se": 0.8, "sp": 0.98, "acc": 0.97, "auc": auc, "f1": 0.82, "mcc": 0.81}
    doc = {"protocols": {"fov": {"threshold": 0.5, "pooled": pooled}}}
    (run / "metrics.json").write_text(json.dumps(doc))
    return run, doc


def test_a_flip_tta_evaluation_gets_its_own_rows(tmp_path):
    from saunet.reporting.tables import long_runs_table

    run, doc = _long_run(tmp_path, "drive-cpu-long", "drive", 0.9815)
    assert "flip TTA" not in "\n".join(long_runs_table(tmp_path))
    doc["protocols"]["fov"]["pooled"]["auc"] = 0.9819
    (run / "metrics-tta.json").write_text(json.dumps(doc))
    text = "\n".join(long_runs_table(tmp_path))
    assert "| ours, `fov` | flip TTA, fixed 0.500 |" in text and "0.9819" in text
    assert "`saunet evaluate --tta`" in text


def test_a_soup_fixed_in_advance_is_not_said_to_be_chosen_on_validation(tmp_path):
    from saunet.reporting.tables import long_runs_table

    run, doc = _long_run(tmp_path, "chase-alldata-soup", "chase", 0.9868)
    (run / "soup.csv").write_text(
        "ingredient,sha256,validation_fov_auc,soup_fov_auc_with_it,chosen\n"
        "runs/a,abc,,,1\nruns/b,def,,,1\nsoup,,,,2\n"
    )
    text = "\n".join(long_runs_table(tmp_path))
    assert "fixed in advance (the runs held out no validation images)" in text
    assert "chosen on the held-out" not in text and "| runs/a | - | - | yes |" in text
    assert "val-F1:" not in text  # no val-F1 rows, so no note about them
    (run / "metrics-val-f1.json").write_text(json.dumps(doc))
    assert "val-F1: the threshold" in "\n".join(long_runs_table(tmp_path))
