"""Run directories whose weights are computed from other runs' weights.

``research/interpolate_weights.py`` (WiSE-FT) and ``research/soup_weights.py`` (weight soups)
write a folder that looks like a ``saunet train`` run to ``tools/ship_weights.py`` and
``saunet report``: ``best.safetensors``, the source run's summaries, a CSV of what was
scored, and the test evaluations ``eval/`` (threshold 0.5) and ``eval-val-f1/``
(threshold chosen on validation). This module holds what both need.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from saunet.errors import UserError
from saunet.models.checkpoint import save_checkpoint

__all__ = [
    "COPIED", "model_tensors", "validation_samples", "check_new_dir", "write_derived_run",
    "run_tool",
]  # fmt: skip

log = logging.getLogger(__name__)

#: Files copied from the source run into the derived run directory, when present.
COPIED = ("last.safetensors", "last.json", "config.yaml", "log.csv", "curves.png")


def model_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's state dict from a checkpoint's tensors (keys ``model.*``, prefix removed)."""
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def validation_samples(meta: Mapping[str, Any], data_root: str | None, source: Path) -> list[dict]:
    """The held-out validation originals a run recorded (``meta["data"]["val"]``), loaded
    from the data root. ``source`` names the checkpoint in errors."""
    from saunet.data.datasets import load_dataset
    from saunet.paper import PAPER_PAD

    dataset = meta["run_config"]["data"]["dataset"]
    if dataset not in PAPER_PAD:
        raise UserError(f"{source}: dataset {dataset!r}; only drive and chase runs are supported")
    names = set(meta.get("data", {}).get("val") or [])
    if not names:
        raise UserError(f"{source}: the run held out no validation images; nothing to score on")
    val = [s for s in load_dataset(dataset, data_root, "train") if s["name"] in names]
    if len(val) != len(names):
        raise UserError(f"{dataset}: validation images {sorted(names)} not all found")
    return val


def check_new_dir(out: Path) -> None:
    """Refuse an existing, non-empty output folder (derived runs never overwrite)."""
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: exists and is not empty; choose a new --out")


def write_derived_run(
    out: Path,
    state: Mapping[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    source_run: Path,
    csv_name: str,
    csv_rows: list[list[Any]],
    data_root: str | None,
    last: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``out`` with ``best.safetensors`` (``state`` under ``model.*`` and ``meta``),
    the summaries of ``source_run`` (:data:`COPIED`), ``csv_name`` (``csv_rows``, header
    first) and the test evaluations (``eval-val-f1/`` only when the run held out validation
    images). ``last``, when given, is written as ``last.json`` instead of copying the source
    run's ``last.*`` (a soup's wall time is its ingredients', not its first run's;
    ``collect_run`` reads it from there). Written into a sibling ``.partial`` folder and
    renamed, and removed again if the evaluation fails, so a crash never leaves a run
    directory that would ship half a card."""
    import csv

    from saunet.evaluation.pipeline import evaluate_checkpoint

    check_new_dir(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {"model." + k: v for k, v in state.items()}
    save_checkpoint(tmp / "best.safetensors", tensors, meta, sidecar=False)
    for name in COPIED:
        if last is not None and name.startswith("last."):
            continue
        if (source_run / name).is_file():
            shutil.copy2(source_run / name, tmp / name)
    if last is not None:
        (tmp / "last.json").write_text(json.dumps(dict(last), indent=2, sort_keys=True) + "\n")
    with open(tmp / csv_name, "w", newline="") as fh:
        csv.writer(fh).writerows(csv_rows)
    if out.exists():
        out.rmdir()  # empty, checked above
    tmp.rename(out)
    dataset = meta["run_config"]["data"]["dataset"]
    evals = [("eval", "fixed")]
    if meta.get("data", {}).get("val"):  # a threshold chosen on held-out images
        evals.append(("eval-val-f1", "val-f1"))
    try:
        for sub, policy in evals:
            evaluate_checkpoint(
                out / "best.safetensors", dataset, data_root,
                threshold_policy=policy, out_dir=out / sub,
            )  # fmt: skip
    except BaseException:
        shutil.rmtree(out)
        raise
    return out


def run_tool(run: Callable[[Any], Path], args: Any) -> int:
    """A derived-run tool's ``main``: log to stderr, run, print what was written, and turn
    a :class:`UserError` into its one-line message and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
