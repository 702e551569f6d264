"""``saunet data check``: validate a data root and print its summary (paper Sec. III-A)."""

from __future__ import annotations

import argparse

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="check a dataset root (DRIVE, CHASE_DB1 or a folder of your own images)",
        description="Dataset tools.",
        formatter_class=HelpFormatter,
        epilog="Example:\n  saunet data check --dataset drive --data-root ../shared/data",
    )
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    c = dsub.add_parser(
        "check",
        help="validate files and print counts, sizes, positive fraction and FOV coverage",
        description="Validate a data root before training or evaluation: every image has its "
        "label (and FOV mask), files are readable, sizes match. Prints, per split, the number "
        "of images, their sizes, the fraction of vessel pixels (of all pixels and inside the "
        "FOV) and the FOV coverage. Problems are reported as one line naming the file; the "
        "exit status is then 2.\n\n"
        "Folder datasets pair files by name: IMAGE.ext with IMAGE.ext, IMAGE_manual1, "
        "IMAGE_1stHO, IMAGE_label, IMAGE_gt, ... in --labels and IMAGE_mask in --masks "
        "(details: saunet.data.folder). Without --masks the FOV is estimated.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet data check --dataset chase --data-root ../shared/data\n"
        "  saunet data check --dataset folder --images my/images --labels my/labels\n"
        "  saunet data check --dataset drive --data-root ../shared/data",
    )
    c.add_argument("--dataset", choices=("drive", "chase", "folder"), required=True)
    c.add_argument(
        "--data-root",
        default=None,
        help="folder holding DRIVE/ and CHASEDB1/ (default: $SAUNET_DATA); for --dataset "
        "folder, the base of relative --images/--labels/--masks",
    )
    c.add_argument("--images", help="folder dataset: folder of images")
    c.add_argument("--labels", help="folder dataset: folder of vessel labels")
    c.add_argument("--masks", help="folder dataset: folder of FOV masks (optional)")
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_check(args: argparse.Namespace) -> int:
    from saunet.data.validate import check_dataset, format_summary
    from saunet.errors import UserError

    folder = None
    if args.dataset == "folder":
        if not args.images or not args.labels:
            raise UserError("--dataset folder needs --images DIR and --labels DIR")
        folder = {"images": args.images, "labels": args.labels, "masks": args.masks}
    elif args.images or args.labels or args.masks:
        raise UserError("--images/--labels/--masks apply to --dataset folder only")
    summary = check_dataset(args.dataset, args.data_root, folder=folder)
    print(format_summary(summary))
    return 0
