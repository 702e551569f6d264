"""``saunet models``: the paper's Table IV computed from the code."""

from __future__ import annotations

import argparse

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the registry models with parameter counts and GFLOPs",
        description="Print every registry model with its parameters (trainable / BatchNorm "
        "running statistics, the paper's Table IV) and forward GFLOPs at an input size.",
        formatter_class=HelpFormatter,
        epilog="Example:\n  saunet models --size 592 592",
    )
    p.add_argument("--size", type=int, nargs=2, default=(592, 592), metavar=("H", "W"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saunet.models.profile import model_table

    print(model_table(tuple(args.size)))
    return 0
