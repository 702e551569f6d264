"""``saunet evaluate``: the paper's metrics of a checkpoint (or of external maps) under stated protocols."""

from __future__ import annotations

import argparse
from pathlib import Path

from saunet.commands import HelpFormatter

_PROTOCOLS = {"paper": ("paper",), "fov": ("fov",), "both": ("paper", "fov")}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint or a folder of probability maps (SE SP ACC AUC F1 MCC ...)",
        description="Predict a test split and compute the paper's metrics (Sec. III-B) plus "
        "precision, IoU, AUC-PR and clDice, under the protocol(s) asked for:\n"
        "  paper  whole image after crop-back, pixels of all images pooled (the authors')\n"
        "  fov    pixels inside the field-of-view mask only (most of the field)\n"
        "Writes metrics.json, per_image.csv, table.md (paper's numbers and the 2nd human "
        "observer beside ours), roc.png, pr.png and probs/*.png into --out, and prints the table.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet evaluate --checkpoint drive --dataset drive --data-root ../shared/data\n"
        "  saunet evaluate --probs-dir other_tool/ --dataset drive --data-root ../shared/data "
        "--protocol fov --out eval-other",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="checkpoint .safetensors, run directory, or shipped weights name (drive, chase)",
    )
    src.add_argument(
        "--probs-dir",
        metavar="DIR",
        help="evaluate probability maps from any tool instead (PNG/NPY named after the images)",
    )
    p.add_argument("--dataset", required=True, help="dataset name, e.g. drive or chase")
    p.add_argument(
        "--data-root", metavar="ROOT", default=None, help="datasets root (default: $SAUNET_DATA)"
    )
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--protocol", choices=tuple(_PROTOCOLS), default="both", help="default: both")
    p.add_argument(
        "--threshold", type=float, default=None, help="fixed threshold (default 0.5, the paper's)"
    )
    p.add_argument(
        "--threshold-policy",
        choices=("fixed", "val-f1"),
        default="fixed",
        help="val-f1: threshold maximising F1 on --val-split (never the test split)",
    )
    p.add_argument(
        "--val-split",
        default=None,
        help="validation images for val-f1: 'checkpoint' (the run's held-out images; "
        "default with --checkpoint) or a split name such as train (default with --probs-dir)",
    )
    p.add_argument(
        "--val-probs-dir", metavar="DIR", help="validation maps for val-f1 with --probs-dir"
    )
    p.add_argument(
        "--out", metavar="DIR", help="output directory (default: evaluation/DATASET-NAME)"
    )
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast dtype")
    p.add_argument("--tta", action="store_true", help="average over horizontal/vertical flips")
    p.add_argument(
        "--pad-to",
        default="paper",
        metavar="paper|none|HxW",
        help="pad before inference: paper (592x592 DRIVE, 1008x1008 CHASE), none, or HxW",
    )
    p.add_argument("--no-probs", action="store_true", help="do not write probs/*.png")
    p.set_defaults(func=run)


def _pad(value: str) -> tuple[int, int] | str | None:
    from saunet.errors import UserError

    if value in ("paper", "none"):
        return None if value == "none" else "paper"
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise UserError(f"--pad-to {value!r}: use paper, none or HxW such as 592x592") from None
    return h, w


def run(args: argparse.Namespace) -> int:
    import torch

    from saunet.errors import UserError
    from saunet.evaluation.outputs import render_table
    from saunet.evaluation.pipeline import evaluate_checkpoint, evaluate_prob_dir

    if args.threshold is not None and args.threshold_policy != "fixed":
        raise UserError("--threshold goes with --threshold-policy fixed only")
    threshold = 0.5 if args.threshold is None else args.threshold
    protocols = _PROTOCOLS[args.protocol]
    stem = Path(args.checkpoint or args.probs_dir.rstrip("/")).stem or "maps"
    out = args.out or str(Path("evaluation") / f"{args.dataset}-{stem}")
    common = dict(
        protocols=protocols,
        threshold=threshold,
        threshold_policy=args.threshold_policy,
        val_split=args.val_split or ("checkpoint" if args.checkpoint else "train"),
        split=args.split,
        out_dir=out,
        overwrite=args.overwrite,
    )
    if args.checkpoint:
        amp = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
        doc = evaluate_checkpoint(
            args.checkpoint, args.dataset, args.data_root, device=args.device, amp_dtype=amp,
            tta=args.tta, pad_to=_pad(args.pad_to), write_probs=not args.no_probs, **common,
        )  # fmt: skip
    else:
        doc = evaluate_prob_dir(
            args.probs_dir, args.dataset, args.data_root, val_prob_dir=args.val_probs_dir, **common
        )
    print(render_table(doc))
    print(f"wrote {out}/ (metrics.json, per_image.csv, table.md, roc.png, pr.png)")
    return 0
