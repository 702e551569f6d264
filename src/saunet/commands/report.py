"""``saunet report``: rebuild REPORT.md and its figures from collected results alone."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild REPORT.md from a results folder (no training)",
        description="Write REPORT.md from the run summaries that `saunet reproduce` collected "
        "into RESULTS_DIR: the paper's Tables II-IV re-measured (labelled with the recipe "
        "that made them), paired significance tests, figures in RESULTS_DIR/figures/, and "
        "optional sections from latency.json, cross/*.json, drive-cpu/ and chase-cpu/.\n\n"
        "The output is deterministic: the same results give the same bytes. The data root "
        "(--data-root, else $SAUNET_DATA) is only used for the figures showing the fundus "
        "image and ground truth; without it they are kept as they are.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet report results/\n"
        "  saunet report results/ --out REPORT.md --data-root ../shared/data",
    )
    p.add_argument("results", type=Path, metavar="RESULTS_DIR", help="e.g. results/")
    p.add_argument("--out", type=Path, default=Path("REPORT.md"), help="default REPORT.md")
    p.add_argument("--data-root", metavar="ROOT", help="dataset root for image figures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saunet.reporting.build import build_report

    data_root = args.data_root or os.environ.get("SAUNET_DATA") or None
    if data_root and not Path(data_root).is_dir():
        data_root = None  # figures are kept; the Markdown does not depend on it
    out = build_report(args.results, out_md=args.out, data_root=data_root)
    print(f"wrote {out}")
    return 0


__all__ = ["register", "run"]
