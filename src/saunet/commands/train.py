"""``saunet train``: train any registry model with a recipe from ``configs/``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML recipe (configs/*.yaml)",
        description="Train a registry model. The recipe comes from --config; any value can be "
        "overridden with section.key=value arguments. Runs are resumable with --resume.\n\n"
        "Multi-GPU: torchrun --nproc_per_node=4 -m saunet train --config configs/drive.yaml",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet train --config configs/drive-cpu.yaml --data-root ../shared/data --out runs/drive-cpu\n"
        "  saunet train --config configs/drive.yaml --model unet18 train.epochs=5 --out runs/u18\n"
        "  saunet train --resume runs/drive-cpu train.epochs=200\n"
        "  saunet train --config configs/finetune.yaml --images mine/images --labels mine/labels "
        "--out runs/mine",
    )
    p.add_argument("--config", type=Path, help="YAML recipe, e.g. configs/drive.yaml")
    p.add_argument("--model", help="registry model name (overrides model.name)")
    p.add_argument("--data-root", help="dataset root (default: $SAUNET_DATA)")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<config>-<model>)")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue a stopped run with its own config and data root; overrides may only "
        "change train.epochs, train.max_minutes, train.threads, train.device, "
        "train.save_every and data.root",
    )
    p.add_argument(
        "--images",
        metavar="DIR",
        help="your own photographs: a folder dataset (sets data.dataset=folder); "
        "see configs/finetune.yaml and docs/own-data.md",
    )
    p.add_argument("--labels", metavar="DIR", help="their vessel labels (with --images)")
    p.add_argument("--masks", metavar="DIR", help="their FOV masks (optional; else estimated)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (overrides train.device)")
    p.add_argument("--seed", type=int, help="overrides train.seed")
    p.add_argument("--no-test-eval", action="store_true", help="skip the final test evaluation")
    p.add_argument("overrides", nargs="*", metavar="section.key=value")
    p.set_defaults(func=run)


def _folder_overrides(args: argparse.Namespace) -> list[str]:
    """``--images/--labels/--masks`` as ``data.*`` overrides, with absolute folders (so that
    ``--resume`` works from any directory)."""
    from saunet.errors import UserError

    if not (args.images or args.labels or args.masks):
        return []
    if not args.images or not args.labels:
        raise UserError("your own data needs --images DIR and --labels DIR (--masks optional)")
    for flag, d in (("--images", args.images), ("--labels", args.labels), ("--masks", args.masks)):
        if d is not None and not Path(d).is_dir():
            raise UserError(f"{flag} {d}: no such folder")
    out = ["data.dataset=folder", f"data.folder.images={Path(args.images).resolve()}",
           f"data.folder.labels={Path(args.labels).resolve()}"]  # fmt: skip
    if args.masks:
        out.append(f"data.folder.masks={Path(args.masks).resolve()}")
    return out


def run(args: argparse.Namespace) -> int:
    from saunet.config import RunConfig, load_config
    from saunet.errors import UserError
    from saunet.training import train

    overrides = list(args.overrides) + _folder_overrides(args)
    if args.model:
        overrides.append(f"model.name={args.model}")
    if args.device:
        overrides.append(f"train.device={args.device}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.resume:
        if args.config or args.out:
            flag = "--config" if args.config else "--out"
            raise UserError(
                f"{flag} cannot be combined with --resume {args.resume}: a run resumes with "
                "its own config in its own folder"
            )
        run_dir = args.resume
        cfg = RunConfig()  # replaced by the run's own config.yaml
    else:
        if not args.config:
            raise UserError("pass --config configs/<recipe>.yaml (or --resume RUN_DIR)")
        cfg = load_config(args.config, overrides)
        run_dir = args.out or Path("runs") / f"{cfg.name}-{cfg.model.name}"
    summary = train(
        cfg,
        run_dir,
        data_root=args.data_root,
        resume=bool(args.resume),
        overrides=overrides if args.resume else None,
        evaluate_test=not args.no_test_eval,
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "test"}, indent=2, default=str))
    return 0
