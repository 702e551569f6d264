"""``saunet reproduce``: train, evaluate and report the paper's ablation (Tables II-IV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="train and evaluate the ablation models, then write REPORT.md",
        description="Train every ablation model of the paper (U-Net = unet18, U-Net + SA, "
        "SD-Unet, Backbone, SA-UNet) with a recipe, evaluate each on the test split, copy the "
        "run summaries into --results and rebuild --report from them.\n\n"
        "Recipes: paper = configs/<dataset>.yaml (150 epochs; GPU work), cpu = "
        "configs/<dataset>-cpu.yaml. --minutes caps every run's training time (and runs the "
        "schedule on the wall clock); the cap is part of the recipe label (cpu-5min), which "
        "every table of the report shows.\n\n"
        "Runs go to OUT/<label>/<dataset>/<model>/seed<k>. A run with test results is skipped "
        "and an interrupted one resumed, so the report can be built up across machines.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet reproduce --dataset all --recipe cpu --minutes 5 --data-root ../shared/data\n"
        "  saunet reproduce --dataset drive --recipe paper --models sa-unet --data-root ../shared/data\n"
        "  saunet reproduce --dataset chase --recipe cpu --seeds 3 --out runs --results results",
    )
    p.add_argument("--dataset", required=True, choices=("drive", "chase", "all"))
    p.add_argument("--recipe", required=True, choices=("paper", "cpu"))
    p.add_argument("--data-root", metavar="ROOT", help="dataset root (default: $SAUNET_DATA)")
    p.add_argument("--minutes", type=float, metavar="M", help="training time budget per run")
    p.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="train every run for exactly N epochs (epoch clock; fair on a busy machine)",
    )
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help="registry models (default: unet18 unet18-sa sd-unet backbone sa-unet)")  # fmt: skip
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 0..N-1 (default 1)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="run directories (default runs/)")
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="collected summaries (default results/)")  # fmt: skip
    p.add_argument("--report", type=Path, default=Path("REPORT.md"), help="default REPORT.md")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="section.key=value", help="config override for every run, repeatable "
                   "(e.g. --set train.device=cuda)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saunet.paper import ABLATION_MODELS, DATASETS
    from saunet.reporting.reproduce import reproduce

    datasets = list(DATASETS) if args.dataset == "all" else [args.dataset]
    outcomes = reproduce(
        datasets,
        args.recipe,
        models=args.models or ABLATION_MODELS,
        seeds=args.seeds,
        out=args.out,
        data_root=args.data_root,
        minutes=args.minutes,
        epochs=args.epochs,
        results_dir=args.results,
        report=args.report,
        config_overrides=args.overrides,
    )
    print("| dataset | model | seed | status | run directory |")
    print("|---|---|---:|---|---|")
    for o in outcomes:
        print(f"| {o.dataset} | {o.model} | {o.seed} | {o.status} | {o.run_dir} |")
    print(f"wrote {args.report} from {args.results}")
    return 0


__all__ = ["register", "run"]
