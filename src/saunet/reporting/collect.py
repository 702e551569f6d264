"""Collecting a run's small summaries into ``results/`` (used by :mod:`saunet.reporting.reproduce`).

``results/<label>/<dataset>/<model>/seed<k>/`` receives ``config.yaml``, ``log.csv``,
``curves.png``, ``metrics.json``, ``metrics-val-f1.json``, ``metrics-tta.json`` (if the run
was also evaluated with flip test-time augmentation), ``per_image.csv``, ``table.md``,
``probs/figure-<k>.png`` and a ``run.json`` written here; never weights. ``<label>``
is a recipe label (``paper``, ``cpu``, ``cpu-5min``; :func:`parse_label`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from saunet.errors import UserError
from saunet.paper import MODEL_ROW
from saunet.utils.files import atomic_write, atomic_write_text

__all__ = [
    "FIGURE_IMAGES",
    "SUMMARY_FILES",
    "collect_run",
    "figure_file",
    "figure_map_path",
    "parse_label",
]

log = logging.getLogger(__name__)

#: Test images whose probability maps are kept in ``results/`` for the report's figures.
FIGURE_IMAGES: dict[str, tuple[str, ...]] = {"drive": ("01_test",), "chase": ("Image_11L",)}


def _figure_index(dataset: str, name: str) -> int:
    """1-based position of ``name`` in :data:`FIGURE_IMAGES`: files derived from a dataset
    image are named by it, never by the dataset's file name, so they cannot be mistaken for
    (or checked in as) dataset files."""
    return FIGURE_IMAGES[dataset].index(name) + 1


def figure_map_path(run_dir: str | os.PathLike, dataset: str, name: str) -> Path:
    """Where a collected run keeps its probability map of figure image ``name``
    (``probs/figure-1.png``)."""
    return Path(run_dir) / "probs" / f"figure-{_figure_index(dataset, name)}.png"


def figure_file(kind: str, label: str, dataset: str, name: str) -> str:
    """File name of a report figure of figure image ``name``: ``<kind>-<label>-<dataset>-<k>.png``."""
    return f"{kind}-{label}-{dataset}-{_figure_index(dataset, name)}.png"


#: Files copied from a run directory: ``(source relative to the run, name in results)``.
SUMMARY_FILES = (
    ("config.yaml", "config.yaml"),
    ("log.csv", "log.csv"),
    ("curves.png", "curves.png"),
    ("eval/metrics.json", "metrics.json"),
    ("eval-val-f1/metrics.json", "metrics-val-f1.json"),
    ("eval-tta/metrics.json", "metrics-tta.json"),  # saunet evaluate --tta, optional
    ("eval/per_image.csv", "per_image.csv"),
    ("eval/table.md", "table.md"),
    ("interpolation.csv", "interpolation.csv"),  # research/interpolate_weights.py
    ("soup.csv", "soup.csv"),  # research/soup_weights.py
)
_LABEL = re.compile(r"^(?P<recipe>[A-Za-z0-9_]+?)(?:-(?P<minutes>\d+(?:\.\d+)?)min)?$")


def parse_label(label: str) -> tuple[str, float | None]:
    """Inverse of :func:`saunet.reporting.reproduce.recipe_label`: ``"cpu-5min" -> ("cpu", 5.0)``."""
    m = _LABEL.match(label)
    if not m:
        return label, None
    return m["recipe"], float(m["minutes"]) if m["minutes"] else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _copy(src: Path, dst: Path) -> None:
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _run_summary(run_dir: Path, label: str, dataset: str, model: str, seed: int) -> dict:

    meta = _read_json(run_dir / "last.json")
    cfg = meta.get("run_config") or {}
    if not cfg and (run_dir / "config.yaml").is_file():
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    tc = cfg.get("train") or {}
    recipe, budget = parse_label(label)
    return {
        "recipe_label": label,
        "recipe": recipe,
        "budget_minutes": budget,
        "config": cfg.get("name"),
        "dataset": dataset,
        "model": model,
        "paper_row": MODEL_ROW.get(model),
        "seed": seed,
        "epochs_done": (meta["epoch"] + 1) if "epoch" in meta else 0,
        "epochs_planned": tc.get("epochs"),
        "best_epoch": (meta["best_epoch"] + 1) if meta.get("best_epoch") is not None else None,
        "clock": tc.get("clock", "epochs"),
        "max_minutes": tc.get("max_minutes"),
        "wall_minutes": round(float(meta.get("elapsed_seconds", 0.0)) / 60, 2),
        "hardware": meta.get("hardware"),
        "evaluated": (run_dir / "eval" / "metrics.json").is_file(),
    }


def _infer(run_dir: Path) -> tuple[str | None, str | None, str | None, int | None]:
    """``(label, dataset, model, seed)`` from ``.../<label>/<dataset>/<model>/seed<k>``."""
    parts = run_dir.resolve().parts
    m = re.fullmatch(r"seed(\d+)", parts[-1]) if parts else None
    if not m or len(parts) < 4:
        return None, None, None, None
    return parts[-4], parts[-3], parts[-2], int(m[1])


def collect_run(
    run_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    *,
    label: str | None = None,
    dataset: str | None = None,
    model: str | None = None,
    seed: int | None = None,
    dest: str | os.PathLike | None = None,
    note: str | None = None,
) -> Path:
    """Copy a run's small summaries into ``results_dir/<label>/<dataset>/<model>/seed<k>/``.

    Copies ``config.yaml``, ``log.csv``, ``curves.png``, ``metrics.json`` (from ``eval/``),
    ``metrics-val-f1.json`` (from ``eval-val-f1/``), ``metrics-tta.json`` (from ``eval-tta/``,
    if the run was evaluated with ``--tta``), ``per_image.csv``, ``table.md``,
    ``interpolation.csv`` or ``soup.csv`` (if any) and
    the figure images' probability maps (``probs/figure-<k>.png``, see :func:`figure_map_path`), and writes ``run.json``
    (recipe label, epochs, wall minutes, hardware, seed, model). Never weights. Missing
    fields are taken from the run path, then from its ``config.yaml``; ``dest`` puts the
    files in that folder instead (e.g. ``results/drive-cpu`` for a long run). ``note`` is
    a circumstance the files cannot show (say, that the GPU was shared with other runs),
    stored in ``run.json`` and printed beside the hardware in the report.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run directory not found")
    p_label, p_ds, p_model, p_seed = _infer(run_dir)
    cfg = (
        yaml.safe_load((run_dir / "config.yaml").read_text())
        if (run_dir / "config.yaml").is_file()
        else {}
    )
    cfg = cfg or {}
    label = label or p_label or str(cfg.get("name", "run"))
    dataset = dataset or p_ds or str((cfg.get("data") or {}).get("dataset", "dataset"))
    model = model or p_model or str((cfg.get("model") or {}).get("name", "model"))
    seed = (
        seed
        if seed is not None
        else p_seed
        if p_seed is not None
        else int((cfg.get("train") or {}).get("seed", 0))
    )
    target = (
        Path(dest)
        if dest is not None
        else Path(results_dir) / label / dataset / model / f"seed{seed}"
    )
    target.mkdir(parents=True, exist_ok=True)
    for src, name in SUMMARY_FILES:
        if (run_dir / src).is_file():
            _copy(run_dir / src, target / name)
    for name in FIGURE_IMAGES.get(dataset, ()):
        prob = run_dir / "eval" / "probs" / f"{name}.png"
        if prob.is_file():
            _copy(prob, figure_map_path(target, dataset, name))
    summary = _run_summary(run_dir, label, dataset, model, seed)
    if note:
        summary["note"] = note
    atomic_write_text(target / "run.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    log.info("collected %s -> %s", run_dir, target)
    return target
