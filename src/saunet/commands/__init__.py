"""Subcommands of the ``saunet`` CLI; one module each, see :mod:`saunet.cli`."""

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the runnable examples in each epilog on their own lines."""
