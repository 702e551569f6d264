"""Interpolate a fine-tuning run's weights towards the weights it started from.

Scores points ``(1 - alpha) * start + alpha * end`` of the line between the run's
starting weights (``train.init_weights``, checked against the sha256 the run recorded)
and its ``best.safetensors`` on the run's own held-out validation images (FOV AUC, as in
training), keeps the best ``alpha`` (ties go to the larger one, i.e. closer to the run),
and writes a run directory that ``tools/ship_weights.py`` accepts: ``best.safetensors``
(the interpolated tensors; metadata records both ends, every alpha's score and the one
chosen), the run's ``last.safetensors``/``last.json``/``config.yaml``/``log.csv``/``curves.png``,
``interpolation.csv``, and the test evaluations ``eval/`` (threshold 0.5) and
``eval-val-f1/`` (threshold chosen on validation). The test split is evaluated once,
for the chosen alpha only. See ``saunet.training.interpolate``.

Usage:
    python tools/interpolate_weights.py RUN_DIR --out OUT_DIR [--alphas 0 0.25 0.5 0.75 1]

Example:
    python tools/interpolate_weights.py runs/drive-cpu-lowdrop --out runs/drive-cpu-lowdrop-wise \
        --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import sys
from pathlib import Path

from saunet.checkpoint import (
    file_sha256,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from saunet.config import ModelConfig
from saunet.data.datasets import load_dataset
from saunet.errors import UserError
from saunet.evaluation_pipeline import evaluate_checkpoint
from saunet.inference import PAPER_PAD
from saunet.models.unet import UNet
from saunet.training.interpolate import interpolate_states, score_interpolations

COPIED = ("last.safetensors", "last.json", "config.yaml", "log.csv", "curves.png")


def _model_state(tensors: dict) -> dict:
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def run(args: argparse.Namespace) -> Path:
    end_path = args.run_dir / "best.safetensors"
    if not end_path.is_file():
        raise UserError(f"{end_path}: not found; pass a run directory written by `saunet train`")
    if args.out.exists() and any(args.out.iterdir()):
        raise UserError(f"{args.out}: exists and is not empty; choose a new --out")
    end, meta = read_checkpoint(end_path)
    init = meta.get("init_weights")
    if not init:
        raise UserError(
            f"{end_path}: the run was not started from other weights (train.init_weights)"
        )
    start_path = resolve_checkpoint(args.start or init["spec"])
    if file_sha256(start_path) != init["sha256"]:
        raise UserError(
            f"{start_path}: sha256 differs from the weights the run started from "
            f"({init['sha256'][:16]}...); pass those with --start"
        )
    start, _ = read_checkpoint(start_path)
    dataset = meta["run_config"]["data"]["dataset"]
    if dataset not in PAPER_PAD:
        raise UserError(f"{end_path}: dataset {dataset!r}; only drive and chase runs are supported")
    val_names = set(meta["data"]["val"])
    val = [s for s in load_dataset(dataset, args.data_root, "train") if s["name"] in val_names]
    if len(val) != len(val_names):
        raise UserError(f"{dataset}: validation images {sorted(val_names)} not all found")

    model = UNet(ModelConfig.from_dict(meta["model_config"]))
    rows = score_interpolations(
        model, _model_state(start), _model_state(end), args.alphas, val,
        pad_to=PAPER_PAD.get(dataset),
    )  # fmt: skip
    alpha, auc = max(rows, key=lambda r: (round(r[1], 6), r[0]))
    logging.info("chosen alpha %.3f (validation FOV AUC %.5f)", alpha, auc)

    # Written into a sibling folder and renamed: a crash leaves no half-written run dir.
    tmp = args.out.with_name(args.out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mixed = interpolate_states(_model_state(start), _model_state(end), alpha)
    meta = {
        **meta,
        "best": auc,
        "interpolation": {
            "start": {"file": start_path.name, "sha256": init["sha256"]},
            "end": {"file": str(end_path), "sha256": file_sha256(end_path)},
            "alpha": alpha,
            "validation_fov_auc": {f"{a:g}": s for a, s in rows},
            "command": " ".join(sys.argv),
        },
    }
    save_checkpoint(
        tmp / "best.safetensors", {"model." + k: v for k, v in mixed.items()}, meta,
        sidecar=False,
    )  # fmt: skip
    for name in COPIED:
        if (args.run_dir / name).is_file():
            shutil.copy2(args.run_dir / name, tmp / name)
    with open(tmp / "interpolation.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["alpha", "validation_fov_auc", "chosen"])
        for a, s in rows:
            w.writerow([f"{a:g}", f"{s:.6f}", int(a == alpha)])
    if args.out.exists():
        args.out.rmdir()  # empty, checked above
    tmp.rename(args.out)
    try:
        for sub, policy in (("eval", "fixed"), ("eval-val-f1", "val-f1")):
            evaluate_checkpoint(
                args.out / "best.safetensors", dataset, args.data_root,
                threshold_policy=policy, out_dir=args.out / sub,
            )  # fmt: skip
    except BaseException:
        shutil.rmtree(args.out)  # a run dir without its evaluation would ship half a card
        raise
    return args.out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("run_dir", type=Path, help="a fine-tuning run directory (train.init_weights)")
    ap.add_argument("--out", type=Path, required=True, help="new run directory to write")
    ap.add_argument(
        "--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="points of the line to score (0 = start, 1 = the run's best)",
    )  # fmt: skip
    ap.add_argument("--start", help="starting weights, if not the shipped ones the run names")
    ap.add_argument("--data-root", default=None, help="datasets root (default: $SAUNET_DATA)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
