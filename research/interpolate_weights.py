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
for the chosen alpha only. See ``interpolate``.

Usage:
    python research/interpolate_weights.py RUN_DIR --out OUT_DIR [--alphas 0 0.25 0.5 0.75 1]

Example:
    python research/interpolate_weights.py runs/drive-cpu-lowdrop --out runs/drive-cpu-lowdrop-wise \
        --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from derived import check_new_dir, model_tensors, run_tool, validation_samples, write_derived_run
from interpolate import interpolate_states, score_interpolations

from saunet.config import ModelConfig
from saunet.errors import UserError
from saunet.models.checkpoint import read_checkpoint, resolve_checkpoint
from saunet.models.unet import UNet
from saunet.paper import PAPER_PAD
from saunet.utils.files import file_sha256


def run(args: argparse.Namespace) -> Path:
    end_path = args.run_dir / "best.safetensors"
    if not end_path.is_file():
        raise UserError(f"{end_path}: not found; pass a run directory written by `saunet train`")
    check_new_dir(args.out)
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
    val = validation_samples(meta, args.data_root, end_path)
    dataset = meta["run_config"]["data"]["dataset"]

    model = UNet(ModelConfig.from_dict(meta["model_config"]))
    rows = score_interpolations(
        model, model_tensors(start), model_tensors(end), args.alphas, val,
        pad_to=PAPER_PAD.get(dataset),
    )  # fmt: skip
    alpha, auc = max(rows, key=lambda r: (round(r[1], 6), r[0]))
    logging.info("chosen alpha %.3f (validation FOV AUC %.5f)", alpha, auc)

    mixed = interpolate_states(model_tensors(start), model_tensors(end), alpha)
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
    csv_rows = [["alpha", "validation_fov_auc", "chosen"]]
    csv_rows += [[f"{a:g}", f"{s:.6f}", int(a == alpha)] for a, s in rows]
    return write_derived_run(
        args.out, mixed, meta, source_run=args.run_dir, csv_name="interpolation.csv",
        csv_rows=csv_rows, data_root=args.data_root,
    )  # fmt: skip


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
    return run_tool(run, ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
