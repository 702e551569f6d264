"""REPORT.md: the paper's Tables II-IV re-measured, with figures, built from ``results/``.

:func:`build_report` reads only the results folder (see :mod:`saunet.reporting.results` for its
layout; plus ``latency.json``, ``cross/*.json`` and single long runs such as ``drive-cpu-55min/``) and,
optionally, the data root for figures that show the fundus image and ground truth. The
Markdown is deterministic: no dates, stable ordering, fixed number formats; so
``saunet report results/`` regenerates a committed REPORT.md byte for byte. Without a
data root the existing image figures are kept, and the Markdown does not change.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from saunet.errors import UserError
from saunet.paper import ABLATION_MODELS, DATASET_TITLE
from saunet.reporting.collect import FIGURE_IMAGES, figure_file, parse_label
from saunet.reporting.differences import differences_section
from saunet.reporting.figures import curves_figure, examples_figure, fig5_panel
from saunet.reporting.results import Results, all_runs, fmt, hardware_text, load_results, read_json
from saunet.reporting.tables import (
    ablation_table,
    cross_table,
    long_run_dirs,
    long_runs_table,
    robustness_table,
    significance_table,
    table_iv,
)
from saunet.utils.files import atomic_write_text

__all__ = ["build_report", "render_report"]

log = logging.getLogger(__name__)


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _reproduce_command(results: Results, label: str, results_rel: str, md_name: str) -> str:
    recipe, minutes = parse_label(label)
    datasets = list(results[label])
    ds = "all" if set(datasets) == {"drive", "chase"} else " ".join(datasets)
    cmd = f"saunet reproduce --dataset {ds} --recipe {recipe}"
    if minutes is not None:
        cmd += f" --minutes {minutes:g}"
    models = sorted({m for d in results[label].values() for m in d})
    if set(models) != set(ABLATION_MODELS):
        cmd += " --models " + " ".join(models)
    seeds = sorted({s for d in results[label].values() for m in d.values() for s in m})
    if seeds != [0]:
        cmd += f" --seeds {max(seeds) + 1}"
    return cmd + f" --data-root ROOT --out runs --results {results_rel} --report {md_name}"


def _regenerate(results: Results, results_rel: str, md_name: str) -> list[str]:
    lines = [
        "## 1. How to regenerate",
        "",
        f"This file is generated from the run summaries in `{results_rel}/`; do not edit it "
        "by hand. From the folder holding it, with `ROOT` the data root (DRIVE/, CHASEDB1/):",
        "",
        "```sh",
        f"saunet report {results_rel} --out {md_name} --data-root ROOT   # this file and figures",
        f"python benchmarks/bench_latency.py --out {results_rel}/latency.json   # Table IV latency",
    ]
    for label in results:
        lines.append(_reproduce_command(results, label, results_rel, md_name))
    lines += [
        "```",
        "",
        "`saunet reproduce` trains, evaluates and collects every run it is asked for, skipping "
        "runs that already have test results and resuming interrupted ones; without "
        "`--data-root` the report keeps the existing image figures.",
        "",
    ]
    return lines


def _runs_section(results: Results) -> list[str]:
    lines = ["## 2. Hardware, recipes and training time", ""]
    if not results:
        return lines + ["No runs have been collected yet.", ""]
    lines += [
        "Recipe labels: `paper` = the paper's recipe (`configs/<dataset>.yaml`); `cpu` = the "
        "CPU recipe (`configs/<dataset>-cpu.yaml`, patches, online augmentation, cosine "
        "schedule; not the paper's protocol); a suffix `-<M>min` = a time budget of M minutes "
        "per run. Wall time is training time (validation included, test evaluation excluded).",
        "",
        "| Recipe | Dataset | Model | Seed | Config | Epochs done / planned | Best epoch | "
        "Wall minutes | Hardware |",
        "|---|---|---|---:|---|---:|---:|---:|---|",
    ]
    for label in results:
        for run in all_runs(results, label):
            i = run.info
            lines.append(
                f"| {label} | {DATASET_TITLE.get(run.dataset, run.dataset)} | `{run.model}` | "
                f"{run.seed} | {i.get('config') or '—'} | {i.get('epochs_done', '—')} / "
                f"{i.get('epochs_planned') or '—'} | {i.get('best_epoch') or '—'} | "
                f"{fmt(i.get('wall_minutes'), digits=1)} | {hardware_text(i.get('hardware'))}"
                f"{'; ' + i['note'] if i.get('note') else ''} |"
            )
    return lines + [""]


def _ablation_section(results: Results) -> list[str]:

    lines = [
        "## 3. Ablation: Tables II (DRIVE) and III (CHASE_DB1) re-measured",
        "",
        "Rows as in the paper: U-Net (the 18-layer U-Net, `unet18`), U-Net + SA, SD-Unet "
        "(U-Net + DropBlock), Backbone (SD-Unet + BatchNorm), SA-UNet (Backbone + SA). "
        "Each table names the training recipe that produced it; `paper`/`fov` name the "
        "*evaluation* protocol only.",
        "",
    ]
    if not results:
        return lines + ["No runs have been collected yet.", ""]
    for label in results:
        lines += [f"### Recipe `{label}`", ""]
        for ds in results[label]:
            for protocol in ("paper", "fov"):
                lines += ablation_table(results, label, ds, protocol)
    return lines


def _significance_section(results: Results) -> list[str]:

    lines = ["## 4. Paired significance tests", ""]
    for label in results:
        for ds in results[label]:
            lines += significance_table(results, label, ds)
    return lines if len(lines) > 2 else lines + ["No runs have been collected yet.", ""]


def _figure_section(results: Results, results_dir: Path, md_dir: Path) -> list[str]:
    fig_dir = results_dir / "figures"
    entries: list[tuple[str, str]] = []
    for label in results:
        for ds in results[label]:
            title = DATASET_TITLE.get(ds, ds)
            entries.append((f"curves-{label}-{ds}.png",
                            f"{title}, recipe `{label}`: training curves of every model (like Fig. 2)"))  # fmt: skip
            if ds == "drive":
                entries.append((figure_file("fig5", label, "drive", "01_test"),
                                f"DRIVE 01_test segmented by every model, recipe `{label}` (like Fig. 5)"))  # fmt: skip
            for name in FIGURE_IMAGES.get(ds, ()):
                entries.append((figure_file("examples", label, ds, name),
                                f"{title} {name}: U-Net, Backbone, SA-UNet with a zoomed crop "
                                f"where thin vessels differ, recipe `{label}` (like Figs. 6/7)"))  # fmt: skip
    lines = ["## 6. Figures", ""]
    shown = [(f, c) for f, c in entries if (fig_dir / f).is_file()]
    for f, caption in shown:
        lines += [f"**{caption}.**", "", f"![{caption}]({_rel(fig_dir / f, md_dir)})", ""]
    missing = [f for f, _ in entries if not (fig_dir / f).is_file()]
    if missing:
        lines += ["Not yet made (they need the data root, or probability maps in the results): "
                  + ", ".join(f"`{f}`" for f in missing) + ".", ""]  # fmt: skip
    return lines if entries else lines + ["No runs have been collected yet.", ""]


def _long_runs_section(results_dir: Path, md_dir: Path) -> list[str]:

    body = long_runs_table(results_dir)
    if not body:
        return []
    lines = [
        "## 9. Long single runs (the shipped weights, their predecessors, GPU experiments)",
        "",
        "The model cards in `src/saunet/weights/` name the run each shipped file comes from.",
        "",
        *body,
    ]
    for d in long_run_dirs(results_dir):
        for f in ("curves.png", "time_to_quality.png"):
            if (d / f).is_file():
                lines += [f"![{d.name} {f}]({_rel(d / f, md_dir)})", ""]
    return lines


def render_report(results: Results, results_dir: Path, out_md: Path) -> str:
    """The Markdown text of REPORT.md (no side effects)."""

    md_dir = out_md.resolve().parent
    results_rel = _rel(results_dir, md_dir)
    lines = [
        "# SA-UNet reproduction report",
        "",
        "Guo et al., *SA-UNet: Spatial Attention U-Net for Retinal Vessel Segmentation*, "
        "ICPR 2020, re-measured with this code. Numbers in tables labelled with the CPU recipe "
        "or a time budget are not the paper's training protocol and are never presented as such.",
        "",
        *_regenerate(results, results_rel, out_md.name),
        *_runs_section(results),
        *_ablation_section(results),
        *_significance_section(results),
        "## 5. Table IV: parameters, GFLOPs and CPU latency (computed from the code)",
        "",
        *table_iv(read_json(results_dir / "latency.json")),
        *_figure_section(results, results_dir, md_dir),
        *differences_section(results),
    ]
    cross = cross_table(results_dir / "cross") if (results_dir / "cross").is_dir() else []
    if cross:
        lines += ["## 8. Cross-dataset generalization (beyond the paper)", "",
                  f"From `{results_rel}/cross/*.json` (written by `benchmarks/scale_sweep.py`): "
                  "weights trained on one dataset evaluated on another, with the resolution "
                  "adaptation of `saunet segment` (`scale`).", "", *cross]  # fmt: skip
    robust = (
        robustness_table(results_dir / "robustness")
        if (results_dir / "robustness").is_dir()
        else []
    )
    if robust:
        lines += ["### Robustness: each set of weights on each test set, native, rescaled, colour-shifted", "",
                  f"From `{results_rel}/robustness/*/robustness.json` (written by "
                  "`benchmarks/robustness.py`): FOV AUC / F1 on the test photographs, segmented "
                  "through `saunet segment`'s path with the dataset's FOV mask, at each weights' "
                  "threshold (docs/segment.md, \"Which weights\").", "", *robust]  # fmt: skip
    lines += _long_runs_section(results_dir, md_dir)
    return "\n".join(lines).rstrip("\n") + "\n"


def build_report(
    results_dir: str | os.PathLike,
    out_md: str | os.PathLike = "REPORT.md",
    data_root: Any = None,
) -> Path:
    """Write ``out_md`` and ``results_dir/figures/`` from ``results_dir`` alone.

    ``data_root`` (optional) supplies the fundus images and ground truth of the image
    figures; without it they are left as they are. Returns the Markdown path.
    """

    results_dir, out_md = Path(results_dir), Path(out_md)
    if not results_dir.is_dir():
        raise UserError(f"{results_dir}: results folder not found (saunet reproduce writes it)")
    results = load_results(results_dir)
    fig_dir = results_dir / "figures"
    for label in results:
        for ds in results[label]:
            curves_figure(results, label, ds, fig_dir)
            if data_root is None:
                continue
            if ds == "drive":
                fig5_panel(results, label, data_root, fig_dir)
            for name in FIGURE_IMAGES.get(ds, ()):
                examples_figure(results, label, ds, name, data_root, fig_dir)
    atomic_write_text(out_md, render_report(results, results_dir, out_md))
    log.info("wrote %s from %s", out_md, results_dir)
    return out_md
