"""Command-line entry point ``saunet``: a thin dispatcher over :mod:`saunet.commands`.

Each subcommand lives in ``saunet/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function
``(args) -> int`` that calls library code. Errors meant for the user are raised as
:class:`saunet.errors.UserError` and printed as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

from saunet.errors import UserError
from saunet.version import __version__

#: Subcommand modules, in the order ``saunet --help`` lists them.
COMMANDS = (
    "models",
    "data",
    "train",
    "evaluate",
    "compare",
    "segment",
    "measure",
    "export",
    "reproduce",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saunet",
        description="SA-UNet retinal vessel segmentation (Guo et al., ICPR 2020).",
        epilog="Example: saunet segment fundus.jpg --out vessels/",
    )
    parser.add_argument("--version", action="version", version=f"saunet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"saunet.commands.{name}") is None:
            continue  # a command whose module is not part of this build
        importlib.import_module(f"saunet.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"saunet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"saunet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
