"""Reading a results folder for :mod:`saunet.reporting.build`: runs, recipes, formatting helpers.

Layout read (written by :func:`saunet.reporting.collect.collect_run`)::

    results/<label>/<dataset>/<model>/seed<k>/{run.json, metrics.json, metrics-val-f1.json,
                                               log.csv, config.yaml, per_image.csv,
                                               table.md, curves.png, probs/figure-<k>.png}

Everything is read defensively: a missing or unreadable file becomes ``None`` / empty,
never an exception, so a half-filled results folder still makes a report.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from saunet.evaluation.outputs import TABLE_METRICS
from saunet.paper import ABLATION_MODELS, DATASETS, MODEL_ROW, PAPER_RESULTS
from saunet.reporting.collect import parse_label

log = logging.getLogger(__name__)

HEAD = {"se": "SE", "sp": "SP", "acc": "ACC", "auc": "AUC", "f1": "F1", "mcc": "MCC"}
PROTOCOL_TEXT = {
    "paper": "evaluation protocol `paper`: whole image, all pixels pooled, threshold 0.5 "
    "(the authors' evaluation)",
    "fov": "evaluation protocol `fov`: pixels inside the field-of-view mask only, pooled, "
    "threshold 0.5",
}


@dataclass
class Run:
    """One collected run of one model on one dataset with one seed."""

    label: str
    dataset: str
    model: str
    seed: int
    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    metrics_val: dict[str, Any] | None = None
    log_rows: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def pooled(self, protocol: str) -> dict[str, Any] | None:
        """Pooled metrics under ``protocol`` (threshold 0.5), or None."""
        return (((self.metrics or {}).get("protocols") or {}).get(protocol) or {}).get("pooled")


#: The repository checkout this module lies in (``src/saunet/reporting/`` -> root).
_REPO = Path(__file__).resolve().parents[3]


def recipe_path(name: str) -> str:
    """Repository path of recipe ``name``: ``configs/`` holds the recipes users run,
    ``research/configs/`` the experiments; ``configs/NAME.yaml`` when neither has it."""
    if not (_REPO / "configs" / f"{name}.yaml").is_file():
        if (_REPO / "research" / "configs" / f"{name}.yaml").is_file():
            return f"research/configs/{name}.yaml"
    return f"configs/{name}.yaml"


def read_json(path: Path) -> Any:
    """Parsed JSON or ``None`` (missing / unreadable files are logged, not raised)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("%s: unreadable JSON, ignored (%s)", path, exc)
        return None


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_log(path: Path) -> list[dict[str, float]]:
    """``log.csv`` rows as floats (empty cells -> NaN)."""
    rows = []
    for r in read_csv(path):
        try:
            rows.append({k: float(v) if v not in ("", None) else math.nan for k, v in r.items()})
        except ValueError:
            continue
    return rows


def _load_run(path: Path, label: str, dataset: str, model: str, seed: int) -> Run:
    cfg = {}
    if (path / "config.yaml").is_file():
        try:
            cfg = yaml.safe_load((path / "config.yaml").read_text()) or {}
        except yaml.YAMLError:
            cfg = {}
    return Run(label, dataset, model, seed, path,
               info=read_json(path / "run.json") or {},
               metrics=read_json(path / "metrics.json"),
               metrics_val=read_json(path / "metrics-val-f1.json"),
               log_rows=read_log(path / "log.csv"), config=cfg)  # fmt: skip


def label_key(label: str) -> tuple:
    """Paper recipe first, then others; within one recipe, full runs before budgets."""
    recipe, minutes = parse_label(label)
    return (recipe != "paper", recipe, minutes is not None, minutes or 0.0, label)


def dataset_key(ds: str) -> tuple:
    return (DATASETS.index(ds) if ds in DATASETS else len(DATASETS), ds)


def model_key(model: str) -> tuple:
    return (ABLATION_MODELS.index(model) if model in ABLATION_MODELS else 99, model)


#: ``runs[label][dataset][model][seed] -> Run``
Results = dict[str, dict[str, dict[str, dict[int, Run]]]]


def load_results(results_dir: Path) -> Results:
    """Every collected run below ``results_dir``, in report order."""
    found: Results = {}
    for seed_dir in results_dir.glob("*/*/*/seed*"):
        if not seed_dir.is_dir() or not seed_dir.name[4:].isdigit():
            continue
        if not ((seed_dir / "run.json").is_file() or (seed_dir / "metrics.json").is_file()):
            continue
        model_dir = seed_dir.parent
        ds_dir = model_dir.parent
        label = ds_dir.parent.name
        run = _load_run(seed_dir, label, ds_dir.name, model_dir.name, int(seed_dir.name[4:]))
        found.setdefault(label, {}).setdefault(ds_dir.name, {}).setdefault(model_dir.name, {})[
            run.seed
        ] = run
    ordered: Results = {}
    for label in sorted(found, key=label_key):
        ordered[label] = {}
        for ds in sorted(found[label], key=dataset_key):
            ordered[label][ds] = {
                m: dict(sorted(found[label][ds][m].items()))
                for m in sorted(found[label][ds], key=model_key)
            }
    return ordered


# ------------------------------------------------------------------------- formatting


def fmt(v: Any, sign: bool = False, digits: int = 4) -> str:
    """Fixed-format number; ``—`` for missing or non-finite values."""
    if v is None or isinstance(v, str) or not math.isfinite(float(v)):
        return "—"
    return f"{float(v):+.{digits}f}" if sign else f"{float(v):.{digits}f}"


def fmt_p(p: Any) -> str:
    if p is None or not math.isfinite(float(p)):
        return "—"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def row_name(model: str) -> str:
    return MODEL_ROW.get(model, model)


def paper_values(dataset: str, model: str) -> dict[str, float] | None:
    vals = PAPER_RESULTS.get(dataset, {}).get(row_name(model))
    return dict(zip(TABLE_METRICS, vals, strict=True)) if vals else None


def seed_stats(runs: dict[int, Run], protocol: str, metric: str) -> tuple[float, float, int]:
    """``(mean, sd, n)`` of a pooled metric over seeds (sd NaN for a single seed)."""
    vals = [
        float(p[metric])
        for r in runs.values()
        if (p := r.pooled(protocol)) and p.get(metric) is not None
    ]
    if not vals:
        return math.nan, math.nan, 0
    sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan
    return float(np.mean(vals)), sd, len(vals)


def hardware_text(hw: dict[str, Any] | None) -> str:
    """``NVIDIA H100 80GB HBM3 GPU`` or ``2-thread CPU (Intel Xeon ...)``."""
    if not hw:
        return "hardware not recorded"
    if hw.get("gpu"):
        n = int(hw.get("processes") or 1)
        return f"{n} x {hw['gpu']}" if n > 1 else f"{hw['gpu']} GPU"
    return f"{hw.get('threads', '?')}-thread CPU ({hw.get('cpu', 'unknown model')})"


def recipe_text(label: str, runs: list[Run]) -> str:
    """How a table's numbers were trained, e.g. "CPU recipe, 5-minute budget per model,
    2-thread CPU (...)" — never presenting a CPU or budgeted run as the paper's."""
    recipe, minutes = parse_label(label)
    configs = sorted({str(r.info.get("config") or r.config.get("name") or "?") for r in runs})
    cfg_list = ", ".join(recipe_path(c) for c in configs)
    if recipe == "paper" and minutes is None:
        text = f"paper recipe ({cfg_list}: 150 epochs, Adam, BCE, offline augmentation)"
    elif recipe == "paper":
        text = f"paper recipe ({cfg_list}) cut to a {minutes:g}-minute budget per model"
    elif recipe == "cpu":
        text = f"CPU recipe ({cfg_list})"
    else:
        text = f"recipe `{recipe}` ({cfg_list})"
    if recipe != "paper" and minutes is not None:
        text += f", {minutes:g}-minute budget per model"
    hws = sorted({hardware_text(r.info.get("hardware")) for r in runs})
    text += ", " + "; ".join(hws)
    epochs = sorted({int(r.info.get("epochs_done") or 0) for r in runs})
    if epochs:
        span = f"{epochs[0]}" if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"
        text += f", {span} epochs"
    if recipe != "paper" or minutes is not None or any(e < 150 for e in epochs):
        text += " — not the paper's 150-epoch training protocol"
    return text


def all_runs(results: Results, label: str, dataset: str | None = None) -> list[Run]:
    out = []
    for ds, models in results.get(label, {}).items():
        if dataset is None or ds == dataset:
            for seeds in models.values():
                out += list(seeds.values())
    return out
