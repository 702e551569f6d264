"""``saunet compare``: paired significance test of two evaluations on the same images."""

from __future__ import annotations

import argparse

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of two evaluate results (Wilcoxon, bootstrap CI)",
        description="Compare two metrics.json files written by `saunet evaluate` on the same "
        "images: per-image F1 and AUC differences (B - A), Wilcoxon signed-rank p-values, and "
        "a bootstrap confidence interval of the pooled F1 difference (images resampled).",
        formatter_class=HelpFormatter,
        epilog="Example:\n  saunet compare evaluation/drive-a/metrics.json "
        "evaluation/drive-b/metrics.json --protocol fov",
    )
    p.add_argument("a", metavar="A.json", help="baseline metrics.json (or its directory)")
    p.add_argument("b", metavar="B.json", help="candidate metrics.json (or its directory)")
    p.add_argument("--protocol", choices=("paper", "fov"), default="fov", help="default: fov")
    p.add_argument("--n-boot", type=int, default=10000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the full comparison as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saunet.evaluation.compare import compare_results, format_comparison
    from saunet.evaluation.outputs import to_json
    from saunet.utils.files import atomic_write_text

    r = compare_results(args.a, args.b, args.protocol, n_boot=args.n_boot, seed=args.seed)
    print(format_comparison(r))
    if args.json:
        atomic_write_text(args.json, to_json(r) + "\n")
        print(f"wrote {args.json}")
    return 0


__all__ = ["register", "run"]
