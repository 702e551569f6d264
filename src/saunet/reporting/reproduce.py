"""Reproduce the paper's ablation (Tables II and III): train, evaluate, collect, report.

:func:`reproduce` runs every ``dataset x model x seed`` of a recipe into
``out/<label>/<dataset>/<model>/seed<k>`` (a run whose ``eval/metrics.json`` exists is
done and skipped; one with ``last.safetensors`` is resumed), copies each run's small
summaries into ``results/<label>/<dataset>/<model>/seed<k>/`` (:func:`collect_run`) and
rebuilds ``REPORT.md`` from ``results/`` alone (:func:`saunet.reporting.build.build_report`).

``<label>`` is the recipe (``paper``: ``configs/<dataset>.yaml``; ``cpu``:
``configs/<dataset>-cpu.yaml``) plus the time budget when one was imposed with
``minutes`` (``cpu-5min``), so runs made under different budgets never mix.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saunet import training
from saunet.config import RunConfig, load_config
from saunet.errors import UserError
from saunet.models import MODEL_REGISTRY
from saunet.paper import ABLATION_MODELS, DATASETS
from saunet.reporting.build import build_report
from saunet.reporting.collect import collect_run
from saunet.training import loop
from saunet.utils.device import resolve_device
from saunet.utils.files import remove_stale_temps
from saunet.utils.lock import LOCK_NAME

__all__ = [
    "RECIPES",
    "RunOutcome",
    "find_configs_dir",
    "recipe_config",
    "recipe_label",
    "reproduce",
]

log = logging.getLogger(__name__)

RECIPES = ("paper", "cpu")


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`reproduce` did with one run: ``status`` is done, resumed or trained."""

    dataset: str
    model: str
    seed: int
    run_dir: Path
    status: str
    results: Path | None


def find_configs_dir() -> Path:
    """The recipes folder: ``$SAUNET_CONFIGS``, the repository checkout's ``configs/``
    (next to ``src/``), or ``./configs``; a clear error when none exists."""
    candidates = []
    if os.environ.get("SAUNET_CONFIGS"):
        candidates.append(Path(os.environ["SAUNET_CONFIGS"]).expanduser())
    candidates += [Path(__file__).resolve().parents[3] / "configs", Path.cwd() / "configs"]
    for cand in candidates:
        if cand.is_dir() and any(cand.glob("*.yaml")):
            return cand
    raise UserError(
        "configs/ not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); `saunet reproduce` needs the recipes of a repository checkout: run it from the "
        "repository or set SAUNET_CONFIGS to its configs/ folder"
    )


def recipe_config(dataset: str, recipe: str, configs_dir: Path | None = None) -> Path:
    """``configs/<dataset>.yaml`` for the paper recipe, ``configs/<dataset>-cpu.yaml`` for cpu."""
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; choose {' or '.join(RECIPES)}")
    path = (configs_dir or find_configs_dir()) / (
        f"{dataset}.yaml" if recipe == "paper" else f"{dataset}-{recipe}.yaml"
    )
    if not path.is_file():
        raise UserError(f"{path}: no {recipe} recipe for dataset {dataset!r}")
    return path


def recipe_label(recipe: str, minutes: float | None = None, epochs: int | None = None) -> str:
    """``paper``, ``cpu``; with a time budget ``cpu-5min``; with an epoch count ``cpu-25ep``."""
    if epochs is not None:
        return f"{recipe}-{epochs}ep"
    return recipe if minutes is None else f"{recipe}-{minutes:g}min"


def _run_overrides(
    model: str, seed: int, minutes: float | None, extra: Sequence[str], epochs: int | None = None
) -> list[str]:
    out = [f"model.name={model}", f"train.seed={seed}"]
    if minutes is not None:
        out += [f"train.max_minutes={minutes:g}", "train.clock=time"]
    if epochs is not None:
        # A fixed number of epochs on the epoch clock: every model gets the same number of
        # steps whatever else the machine is doing, so an ablation stays a fair comparison.
        out += [f"train.epochs={epochs}", "train.clock=epochs", "train.max_minutes=null"]
    return out + list(extra)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _training_finished(run_dir: Path) -> bool:
    """True when ``last.json`` shows the epochs or the time budget used up."""
    meta = _read_json(run_dir / "last.json")
    tc = (meta.get("run_config") or {}).get("train") or {}
    if not meta or "epoch" not in meta:
        return False
    if meta["epoch"] + 1 >= int(tc.get("epochs", 0) or 0):
        return True
    budget = tc.get("max_minutes")
    return budget is not None and meta.get("elapsed_seconds", 0.0) >= 60 * float(budget)


def _clear_stillborn(run_dir: Path) -> None:
    """A run that died before its first epoch leaves only config.yaml (beside its lock file
    and temporary files, which a dead writer leaves behind); start it afresh."""
    if not run_dir.is_dir():
        return
    remove_stale_temps(run_dir)
    entries = {p.name for p in run_dir.iterdir() if p.name != LOCK_NAME}
    if entries <= {"config.yaml"}:
        if entries:
            (run_dir / "config.yaml").unlink()
        return
    raise UserError(
        f"{run_dir}: holds files but no last.safetensors to resume from; move it away or "
        "delete it to train this run again"
    )


def _run_one(
    config_path: Path,
    overrides: list[str],
    run_dir: Path,
    data_root: str | None,
    progress: bool,
) -> str:

    if (run_dir / "eval" / "metrics.json").is_file():
        return "done"
    if (run_dir / "last.safetensors").is_file():
        if _training_finished(run_dir):
            log.info("%s: training finished earlier; evaluating it", run_dir)
            cfg = RunConfig.from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
            loop.evaluate_run(run_dir, cfg, data_root, resolve_device(cfg.train.device))
        else:
            log.info("%s: resuming", run_dir)
            training.train(
                RunConfig(), run_dir, data_root=data_root, resume=True, progress=progress
            )
        return "resumed"
    _clear_stillborn(run_dir)
    cfg = load_config(config_path, overrides)
    log.info("%s: training %s (%s)", run_dir, cfg.model.name, config_path.name)
    training.train(cfg, run_dir, data_root=data_root, progress=progress)
    return "trained"


def reproduce(
    datasets: Sequence[str],
    recipe: str,
    models: Sequence[str] = ABLATION_MODELS,
    seeds: int | Sequence[int] = 1,
    out: str | os.PathLike = "runs",
    data_root: str | None = None,
    minutes: float | None = None,
    epochs: int | None = None,
    results_dir: str | os.PathLike | None = "results",
    *,
    report: str | os.PathLike | None = "REPORT.md",
    configs: Mapping[str, str | os.PathLike] | None = None,
    config_overrides: Sequence[str] = (),
    progress: bool = True,
) -> list[RunOutcome]:
    """Train, evaluate and collect every ``dataset x model x seed``; then rebuild the report.

    Args:
        datasets: ``drive`` and/or ``chase`` (or any key of ``configs``).
        recipe: ``paper`` (``configs/<dataset>.yaml``) or ``cpu`` (``<dataset>-cpu.yaml``).
        models: registry names; default the five ablation rows of Tables II/III.
        seeds: ``N`` (seeds ``0..N-1``) or explicit seeds; each sets ``train.seed``.
        out: root of the run directories, ``out/<label>/<dataset>/<model>/seed<k>``.
        data_root: dataset root (default ``$SAUNET_DATA``).
        minutes: time budget per run: sets ``train.max_minutes`` and ``train.clock=time``
            and becomes part of the label (``cpu-5min``).
        epochs: train every run for exactly this many epochs on the epoch clock (label
            ``cpu-20ep``); unlike ``minutes``, machine load cannot change the result.
        results_dir: where run summaries are collected (``None``: no collection, no report).
        report: Markdown file rebuilt from ``results_dir`` at the end (``None``: skip).
        configs: ``{dataset: config path}`` replacing the recipe files (used by tests).
        config_overrides: extra ``section.key=value`` overrides applied to every run.
        progress: show training progress bars.
    """
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; choose {' or '.join(RECIPES)}")
    if minutes is not None and minutes <= 0:
        raise UserError(f"--minutes must be positive, got {minutes}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise UserError("no seeds to run (seeds must be >= 1)")

    unknown = [m for m in models if m not in MODEL_REGISTRY]
    if unknown:
        raise UserError(f"unknown model(s) {unknown}; choose from {', '.join(MODEL_REGISTRY)}")
    config_paths = {}
    for ds in datasets:
        if configs and ds in configs:
            config_paths[ds] = Path(configs[ds])
        elif ds in DATASETS:
            config_paths[ds] = recipe_config(ds, recipe)
        else:
            raise UserError(f"unknown dataset {ds!r}; choose from {', '.join(DATASETS)}")
    if minutes is not None and epochs is not None:
        raise UserError("give --minutes or --epochs, not both")
    label = recipe_label(recipe, minutes, epochs)
    outcomes = []
    for ds in datasets:
        for model in models:
            for seed in seed_list:
                run_dir = Path(out) / label / ds / model / f"seed{seed}"
                overrides = _run_overrides(model, seed, minutes, config_overrides, epochs)
                status = _run_one(config_paths[ds], overrides, run_dir, data_root, progress)
                collected = None
                if results_dir is not None:
                    collected = collect_run(run_dir, results_dir, label=label, dataset=ds,
                                            model=model, seed=seed)  # fmt: skip
                outcomes.append(RunOutcome(ds, model, seed, run_dir, status, collected))
                log.info("%s %s seed %d: %s", ds, model, seed, status)
    if results_dir is not None and report is not None:
        build_report(
            results_dir, out_md=report, data_root=data_root or os.environ.get("SAUNET_DATA")
        )
    return outcomes
