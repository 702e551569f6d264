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
        "observer beside ours), roc.png, pr.png and probs/*.png into --out, and prints the table."
        "\n\nYour own labelled photographs: --images DIR --labels DIR [--masks DIR] (pairing "
        "as in `saunet data check`); they are predicted the way `saunet segment` predicts "
        "(FOV from --masks or estimated, the resolution policy, tiles), so the numbers are "
        "those a user of segment gets.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet evaluate --checkpoint drive --dataset drive --data-root ../shared/data\n"
        "  saunet evaluate --probs-dir other_tool/ --dataset drive --data-root ../shared/data "
        "--protocol fov --out eval-other\n"
        "  saunet evaluate --checkpoint drive --images mine/images --labels mine/labels "
        "--out eval-mine",
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
    p.add_argument(
        "--dataset",
        default=None,
        help="drive, chase or folder (default: folder with --images, else required)",
    )
    p.add_argument("--images", metavar="DIR", help="your own photographs (folder dataset)")
    p.add_argument("--labels", metavar="DIR", help="their vessel labels (folder dataset)")
    p.add_argument("--masks", metavar="DIR", help="their FOV masks (optional; else estimated)")
    p.add_argument(
        "--data-root", metavar="ROOT", default=None, help="datasets root (default: $SAUNET_DATA)"
    )
    p.add_argument(
        "--split",
        default=None,
        help="split to evaluate (default: test; all for a folder dataset)",
    )
    p.add_argument(
        "--inference",
        choices=("paper", "segment"),
        default=None,
        help="paper: each image whole at its own size, padded (--pad-to; the authors'); "
        "segment: the saunet segment path (default: segment for a folder, else paper)",
    )
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


def _dataset(args: argparse.Namespace) -> tuple[str, dict | None]:
    """``(dataset, folder)`` from --dataset and --images/--labels/--masks."""
    from saunet.errors import UserError

    dataset = args.dataset or ("folder" if args.images or args.labels else None)
    if dataset is None:
        raise UserError("pass --dataset drive|chase, or --images DIR --labels DIR")
    if dataset != "folder":
        if args.images or args.labels or args.masks:
            raise UserError("--images/--labels/--masks apply to --dataset folder only")
        return dataset, None
    if not args.images or not args.labels:
        raise UserError("a folder dataset needs --images DIR and --labels DIR")
    return dataset, {"images": args.images, "labels": args.labels, "masks": args.masks}


def run(args: argparse.Namespace) -> int:
    import torch

    from saunet.errors import UserError
    from saunet.evaluation.outputs import render_table
    from saunet.evaluation.pipeline import evaluate_checkpoint, evaluate_prob_dir

    dataset, folder = _dataset(args)
    if args.threshold is not None and args.threshold_policy != "fixed":
        raise UserError("--threshold goes with --threshold-policy fixed only")
    threshold = 0.5 if args.threshold is None else args.threshold
    protocols = _PROTOCOLS[args.protocol]
    stem = Path(args.checkpoint or args.probs_dir.rstrip("/")).stem or "maps"
    out = args.out or str(Path("evaluation") / f"{dataset}-{stem}")
    split = args.split or ("all" if dataset == "folder" else "test")
    common = dict(
        protocols=protocols,
        threshold=threshold,
        threshold_policy=args.threshold_policy,
        val_split=args.val_split or ("checkpoint" if args.checkpoint else "train"),
        split=split,
        folder=folder,
        out_dir=out,
        overwrite=args.overwrite,
    )
    if args.checkpoint:
        amp = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
        doc = evaluate_checkpoint(
            args.checkpoint, dataset, args.data_root, device=args.device, amp_dtype=amp,
            tta=args.tta, pad_to=_pad(args.pad_to), write_probs=not args.no_probs,
            inference=args.inference or ("segment" if dataset == "folder" else "paper"),
            **common,
        )  # fmt: skip
    else:
        doc = evaluate_prob_dir(
            args.probs_dir, dataset, args.data_root, val_prob_dir=args.val_probs_dir, **common
        )
    print(render_table(doc))
    print(f"wrote {out}/ (metrics.json, per_image.csv, table.md, roc.png, pr.png)")
    return 0
