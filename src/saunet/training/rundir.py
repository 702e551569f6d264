"""The run directory: what a run writes, how it is claimed, and how a resume finds its state.

A run directory holds ``config.yaml``, ``log.csv``, ``best``/``last.safetensors`` with
their ``.json`` sidecars, ``checkpoints/`` and ``curves.png``. ``last.safetensors`` is the
commit point of an epoch: everything else is made to agree with it when a run resumes.

* :func:`prepare_run_dir` checks and claims the folder (:class:`saunet.utils.lock.FolderLock`)
  before any work, finds the data root, applies safe ``--resume`` overrides and removes
  temporary files of writers that died. The data root a run was started with is kept in
  the metadata of ``last.safetensors`` and the epoch checkpoints (key ``data_root``), which
  stay on the machine; ``config.yaml`` and ``best.safetensors``, which are collected and
  shipped, never hold a machine's path.
* :func:`load_resume_state` restores the model from ``last.safetensors`` or, if that file
  is damaged, from the newest intact ``checkpoints/epochNNNN.safetensors``, and says so.
* :func:`resume_rows` rebuilds the log up to the restored epoch: rows after it are dropped
  and the restored epoch's row, which a kill after the checkpoint's rename can leave
  unwritten, is taken from the checkpoint's metadata.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import safe_open

from saunet.config import RunConfig, apply_resume_overrides, read_config_dict
from saunet.data.datasets import resolve_data_root
from saunet.errors import UserError
from saunet.models.checkpoint import (
    META_KEY,
    CheckpointError,
    WeightsMismatch,
    read_checkpoint,
    write_sidecar,
)
from saunet.training.state import load_run_state
from saunet.utils.files import atomic_write_text, remove_stale_temps
from saunet.utils.lock import LOCK_NAME, FolderLock

__all__ = [
    "LOG_FIELDS",
    "absolute_data_root",
    "load_resume_state",
    "prepare_run_dir",
    "read_log",
    "recorded_data_root",
    "repair_sidecars",
    "resume_rows",
    "write_log",
]

log = logging.getLogger(__name__)

LOG_FIELDS = [
    "epoch", "train_loss", "val_loss", "val_acc", "val_auc", "val_f1", "lr",
    "seconds", "elapsed_minutes", "items_per_second",
]  # fmt: skip


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (one per epoch, epochs counted from 1) as ``log.csv``, atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def read_log(path: Path) -> list[dict[str, Any]]:
    """Rows of ``log.csv`` (``[]`` if absent); ValueError/KeyError if it is not a log."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def absolute_data_root(cfg: RunConfig, data_root: str | None) -> str | None:
    """The run's data root as an absolute path, or ``None`` (a folder dataset without one).

    ``data_root`` (``--data-root``), else ``data.root``, else ``$SAUNET_DATA``; a DRIVE or
    CHASE_DB1 root must exist (checked now, before any work). For a folder dataset the root
    is only the base of relative folder paths.

    Raises:
        DataError: a DRIVE/CHASE_DB1 run without a usable data root.
    """
    root = data_root or cfg.data.root
    if cfg.data.dataset != "folder":
        return str(resolve_data_root(root).resolve())
    return str(Path(root).expanduser().resolve()) if root else None


def recorded_data_root(run_dir: Path) -> str | None:
    """The ``data_root`` recorded in the newest readable resume checkpoint, if any."""
    for path in [run_dir / "last.safetensors", *_epoch_checkpoints(run_dir)]:
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
        except Exception:  # noqa: BLE001 - damaged files are judged by load_resume_state
            continue
        if isinstance(meta, dict) and meta.get("data_root"):
            return str(meta["data_root"])
    return None


def _check_out(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a folder; choose another --out")


def prepare_run_dir(
    run_dir: Path,
    cfg: RunConfig,
    resume: bool,
    *,
    overrides: list[str] | None = None,
    data_root: str | None = None,
) -> tuple[RunConfig, FolderLock, str | None]:
    """Claim ``run_dir`` for this process; return the run's config, the held lock and the
    absolute data root (``None``: none needed).

    A new run needs an empty (or absent) folder and writes ``config.yaml``; a resumed run
    reads its own ``config.yaml``, applies ``overrides`` where
    :data:`saunet.config.RESUME_SAFE_KEYS` allows and, without ``data_root``, uses the data
    root it was started with. Either way the folder is created, locked and cleared of stale
    temporary files before any data is loaded.

    Raises:
        UserError: ``run_dir`` is a file, unwritable, in use by a live process, not empty
            (new run), has nothing to resume, or its config is unreadable; an unsafe
            override.
    """
    run_dir = Path(run_dir)
    _check_out(run_dir)
    cfg_path = run_dir / "config.yaml"
    if resume:
        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: no such run folder to resume")
        lock = FolderLock(run_dir, "saunet train --resume").acquire()
    else:
        root = absolute_data_root(cfg, data_root)
        lock = FolderLock(run_dir, "saunet train").acquire()
    try:
        if resume:
            if not (run_dir / "last.safetensors").is_file() and not _epoch_checkpoints(run_dir):
                raise UserError(
                    f"{run_dir}: nothing to resume (no last.safetensors); start a new run instead"
                )
            if not cfg_path.is_file():
                raise UserError(f"{cfg_path}: missing; a run cannot resume without its config")
            d, changed = apply_resume_overrides(
                read_config_dict(cfg_path), overrides or [], str(cfg_path)
            )
            cfg = RunConfig.from_dict(d, source=str(cfg_path))
            root = absolute_data_root(cfg, data_root or recorded_data_root(run_dir))
            if changed:
                log.info("%s: resuming with %s", run_dir, ", ".join(overrides or []))
                atomic_write_text(cfg_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        else:
            theirs = [
                p.name
                for p in run_dir.iterdir()
                if p.name != LOCK_NAME and not (p.name.startswith(".") and p.name.endswith(".tmp"))
            ]
            if theirs:
                raise UserError(
                    f"{run_dir}: run directory exists and is not empty; pass --resume "
                    f"{run_dir} to continue it or choose another --out"
                )
            atomic_write_text(cfg_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        for p in remove_stale_temps(run_dir):
            log.info("removed %s, left by a run that was killed", p)
    except BaseException:
        lock.release()
        raise
    return cfg, lock, root


def _epoch_checkpoints(run_dir: Path) -> list[Path]:
    """``checkpoints/epochNNNN.safetensors``, newest first."""
    return sorted((run_dir / "checkpoints").glob("epoch*.safetensors"), reverse=True)


def load_resume_state(
    run_dir: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    ema: torch.nn.Module | None,
) -> dict[str, Any]:
    """Restore ``model``/``opt``/``ema`` from ``last.safetensors``, or from the newest
    intact epoch checkpoint that holds the optimizer state when it is damaged.

    Returns the checkpoint's metadata (``epoch`` counted from 0).

    Raises:
        UserError: the weights belong to another network, or no file can be resumed from.
    """
    last = run_dir / "last.safetensors"
    problems = []
    for path in [last, *_epoch_checkpoints(run_dir)]:
        if not path.is_file():
            continue
        try:
            meta = load_run_state(path, model, opt, ema)
        except WeightsMismatch:
            raise
        except (CheckpointError, ValueError) as exc:
            problems.append(str(exc).splitlines()[0])
            continue
        if path != last:
            log.warning(
                "%s; resuming from %s (epoch %d) instead",
                problems[0], path.relative_to(run_dir), meta["epoch"] + 1,
            )  # fmt: skip
        return meta
    raise UserError(f"{run_dir}: nothing intact to resume from ({'; '.join(problems)})")


def resume_rows(run_dir: Path, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """``log.csv`` rows up to the restored epoch, the last one restored from ``meta``."""
    done = meta["epoch"] + 1
    try:
        rows = [r for r in read_log(run_dir / "log.csv") if r["epoch"] <= done]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        log.warning("%s: unreadable (%s); rebuilding it", run_dir / "log.csv", exc)
        rows = []
    row = meta.get("metrics")
    if (not rows or rows[-1]["epoch"] < done) and isinstance(row, dict):
        if row.get("epoch") == done:
            rows.append({k: row[k] for k in LOG_FIELDS})
    if [r["epoch"] for r in rows] != list(range(1, done + 1)):
        log.warning("%s: rows of earlier epochs are missing; curves will have gaps", run_dir)
    return rows


def repair_sidecars(run_dir: Path) -> None:
    """Rewrite ``best.json``/``last.json`` from their weights files (a kill between a
    sidecar and its weights file leaves the sidecar one epoch ahead)."""
    for name in ("best", "last"):
        path = run_dir / f"{name}.safetensors"
        try:
            _, meta = read_checkpoint(path)
        except (FileNotFoundError, CheckpointError):
            continue
        write_sidecar(path, meta)
