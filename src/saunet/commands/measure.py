"""``saunet measure``: vessel density, calibre, tortuosity, branching and fractal dimension."""

from __future__ import annotations

import argparse

from saunet.commands import HelpFormatter

DEFAULT_OUT = "measure-output"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="measure vessels: density, width, length, tortuosity, branching, zones B/C",
        description="Measure the retinal vessels of fundus photographs (segmented first, as "
        "saunet segment does) or, with --masks, of binary vessel masks (any image; non-zero "
        "is vessel). Writes into --out: measurements.csv (one row per image: density, "
        "fractal dimension, centreline length, mean width, segments, branch and end points, "
        "tortuosity, optic disc, zones B and C), segments.csv (one row per vessel segment), "
        "<stem>_measure.png (centrelines coloured by width, disc and zone rings) and "
        "index.html (pictures, table, histograms; no network).\n\n"
        "Units: pixels, and um/mm when a scale is known: --um-per-px, or --field-angle "
        "through the FOV diameter at 288 um of retina per degree; DRIVE (45 deg) and "
        "CHASE_DB1 (30 deg) files are recognised by name. Empty cells are undefined values. "
        "Definitions and validation: docs/measure.md.\n\n"
        "Exit status: 0 all inputs measured, 1 some inputs could not be read or measured "
        "(named on stderr, status column of measurements.csv), 2 usage error.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet measure photos/ --out measures\n"
        "  saunet measure --masks vessels/*_mask.png --fov fov/ --um-per-px 6.2 --out m\n"
        "  saunet measure --masks ../shared/data/DRIVE/test/1st_manual "
        "--fov ../shared/data/DRIVE/test/mask --field-angle 45 --out m1",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    p.add_argument("--masks", action="store_true", help="INPUT are vessel masks, not photographs")
    p.add_argument(
        "--fov", metavar="MASK_OR_DIR", help="FOV mask (one input) or folder of masks by stem"
    )
    p.add_argument(
        "--weights",
        metavar="drive|chase|PATH",
        default=None,
        help="weights that segment the photographs (default: drive)",
    )
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--um-per-px", type=float, metavar="X", help="micrometres per pixel")
    scale.add_argument(
        "--field-angle", type=float, metavar="DEG", help="camera field angle in degrees"
    )
    p.add_argument(
        "--disc",
        metavar="X,Y,R",
        help="optic disc centre column, row and radius in px (default: located per image)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from saunet.errors import UserError
    from saunet.inference.inputs import expand_inputs
    from saunet.inference.segmenter import Segmenter
    from saunet.measure.disc import parse_disc
    from saunet.measure.files import measure_files

    if args.masks and args.weights:
        raise UserError("--weights segments photographs; with --masks there is nothing to segment")
    if args.um_per_px is not None and not args.um_per_px > 0:
        raise UserError(f"--um-per-px {args.um_per_px}: must be > 0")
    if args.field_angle is not None and not 0 < args.field_angle < 360:
        raise UserError(f"--field-angle {args.field_angle}: must lie between 0 and 360 degrees")
    disc = None
    if args.disc is not None:
        try:
            disc = parse_disc(args.disc)
        except ValueError as exc:
            raise UserError(f"--disc: {exc}") from None
    sources = expand_inputs(args.inputs)

    def build() -> Segmenter:
        try:
            seg = Segmenter.from_weights(args.weights or "drive", device=args.device)
        except (FileNotFoundError, ValueError, ImportError) as exc:
            raise UserError(str(exc)) from None
        print(f"weights {seg.name} (threshold {seg.threshold:.3g})")
        return seg

    report = measure_files(
        sources, args.out, segmenter=None if args.masks else build, fov=args.fov,
        um=args.um_per_px, field_angle=args.field_angle, disc=disc, overwrite=args.overwrite,
    )  # fmt: skip
    failed = report.failed
    done = len(report.rows) - len(failed)
    print(
        f"measured {done} of {len(report.rows)} images into {args.out}/ "
        "(measurements.csv, segments.csv, index.html)"
    )
    if failed:
        print(f"{len(failed)} input(s) failed: {', '.join(r['name'] for r in failed)}")
        return 1
    return 0
