"""``saunet segment``: vessel maps of any fundus photographs with shipped or own weights."""

from __future__ import annotations

import argparse
import os

from saunet.commands import HelpFormatter

DEFAULT_OUT = "segment-output"
#: ``auto``: the rule of :mod:`saunet.inference.router` picks the weights per photograph.
DEFAULT_WEIGHTS = "auto"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="segment fundus photographs: probability map, mask and overlay per image",
        description="Segment the retinal vessels of fundus photographs (jpg, png, tif, gif, "
        "ppm, bmp; any size; grayscale, RGBA and 16-bit converted). Per image writes "
        "<stem>_prob.png (lossless 16-bit probability), <stem>_mask.png and "
        "<stem>_overlay.jpg into --out (--outputs, --prob-format and --overlay-format choose), "
        "plus summary.csv (size, scale, threshold, vessel fraction inside the FOV, seconds)."
        "\n\n"
        "Each image is resized so its field of view matches the training scale of the weights "
        "(--scale auto; see docs/segment.md), predicted in overlapping tiles and the map "
        "resized back. Existing outputs are never replaced without --overwrite. The summary "
        "is updated after every image, so a stopped run (killed, Ctrl-C, disk full) is "
        "continued with --resume: images it records as ok are kept, the rest redone.\n\n"
        "Exit status: 0 all inputs segmented, 1 some inputs could not be read or segmented "
        "(named on stderr, status column of the summary), 2 usage error, output folder "
        "unwritable or in use by another saunet process, or disk full.\n\n"
        "Many machines/GPUs: torchrun --nproc-per-node=N -m saunet segment ... makes rank R "
        "segment inputs R, R+N, ... and write summary-rankR-of-N.csv.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet segment --demo --out demo-output\n"
        "  saunet segment photos/ extra/*.jpg --weights chase --out vessels --tta\n"
        "  saunet segment hrf_01.jpg --fov hrf_01_mask.tif --scale 0.5 --threshold 0.45\n"
        "  saunet segment photos/ --outputs prob --prob-format npy --out maps\n"
        "  saunet segment photos/ --out vessels --resume",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or globs")
    p.add_argument(
        "--weights",
        metavar="auto|drive|chase|general|PATH",
        default=None,
        help="shipped weights, checkpoint file or run directory; auto: drive for DRIVE-size "
        f"photographs, chase for CHASE_DB1-size ones, general for others (default: {DEFAULT_WEIGHTS})",
    )
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    p.add_argument(
        "--fov", metavar="MASK_OR_DIR", help="FOV mask (one input) or folder of masks by stem"
    )
    p.add_argument(
        "--scale",
        default="auto",
        metavar="S|auto",
        help="resize factor before inference; auto matches the weights' training FOV (default)",
    )
    p.add_argument(
        "--field-angle",
        type=float,
        metavar="DEG",
        help="camera field of view in degrees, if known: --scale auto then matches vessel "
        "calibre (px per degree) instead of FOV diameter",
    )
    p.add_argument(
        "--threshold", type=float, help="mask threshold (default: the weights' model card)"
    )
    p.add_argument("--tta", action="store_true", help="average over h/v/hv flips (4x time)")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="default: torch")
    p.add_argument(
        "--onnx", metavar="PATH", help="exported model for --backend onnx (default: cached export)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="auto: bf16 where the device runs it natively, else fp32",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="PX",
        help="tile side in px (default 1024; 0: whole image)",
    )
    p.add_argument(
        "--compile",
        choices=("auto", "on", "off"),
        default="auto",
        help="torch.compile the network: ~8-25 s once, then the fastest CPU forward pass; auto: "
        "on for one-thread CPU runs with enough images to repay that (docs/segment.md; "
        "default: auto)",
    )
    p.add_argument(
        "--outputs",
        default="prob,mask,overlay",
        metavar="KINDS",
        help="which files per image, comma-separated from prob, mask, overlay (default: all)",
    )
    p.add_argument(
        "--prob-format",
        choices=("png16", "tiff", "npy"),
        default="png16",
        help="probability map: 16-bit PNG, float32 TIFF or float32 .npy, all lossless "
        "(default: png16)",
    )
    p.add_argument(
        "--overlay-format",
        choices=("jpg", "png"),
        default="jpg",
        help="overlay picture: JPEG quality 90 or PNG (default: jpg)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped run in --out (same inputs and options): skip the images its "
        "summary records as ok with all their files, segment the others",
    )
    p.add_argument(
        "--demo", action="store_true", help="segment skimage.data.retina() (no INPUT needed)"
    )
    p.set_defaults(func=run)


def _device(spec: str, world: int) -> str:
    """Under torchrun with CUDA, ``auto`` means this process's GPU (``LOCAL_RANK``)."""
    if spec == "auto" and world > 1:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return spec


def run(args: argparse.Namespace) -> int:
    from saunet.errors import UserError
    from saunet.inference.encode import OutputSpec
    from saunet.inference.inputs import demo_source, expand_inputs
    from saunet.inference.lanes import default_lanes
    from saunet.inference.router import AUTO, WeightsRouter
    from saunet.inference.scale import parse_scale
    from saunet.inference.segment_files import dist_from_env, segment_files
    from saunet.inference.segmenter import DEFAULT_TILE, Segmenter, want_compile

    if args.demo == bool(args.inputs):
        raise UserError("give INPUT files/folders/globs, or --demo (not both)")
    try:
        parse_scale(args.scale)
    except ValueError as exc:
        raise UserError(f"--scale: {exc}") from None
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold {args.threshold}: must lie in [0, 1]")
    if args.onnx and args.backend != "onnx":
        raise UserError("--onnx goes with --backend onnx")
    if args.onnx and not os.path.isfile(args.onnx):
        raise UserError(f"--onnx {args.onnx}: no such file")
    spec = OutputSpec.parse(args.outputs, args.prob_format, args.overlay_format)
    sources = [demo_source()] if args.demo else expand_inputs(args.inputs)
    rank, world = dist_from_env()
    weights = args.weights or (None if args.onnx else DEFAULT_WEIGHTS)

    n_mine = len(sources[rank::world])

    def compile_on() -> bool:
        return want_compile(args.compile, n_mine, args.backend, _device(args.device, world))

    def build_one(name: str | None) -> Segmenter:
        try:
            seg = Segmenter.from_weights(
                name, device=_device(args.device, world), precision=args.precision,
                backend=args.backend, onnx_path=args.onnx, compile=compile_on(),
                tile=DEFAULT_TILE if args.tile is None else args.tile,
            )  # fmt: skip
        except (FileNotFoundError, ValueError, ImportError) as exc:
            raise UserError(str(exc)) from None
        pred = seg.predictor
        print(
            f"weights {seg.name} (threshold {seg.threshold:.3g}), backend {args.backend}, "
            f"{getattr(pred, 'device', 'cpu')}, {getattr(pred, 'precision', 'fp32')}"
            + (", torch.compile" if getattr(pred, "compiled", None) is not None else "")
        )
        return seg

    def build() -> Segmenter | WeightsRouter:
        if weights == AUTO:
            print("weights auto: drive for 565 x 584 photographs, chase for 999 x 960, "
                  "general for the others")  # fmt: skip
            return WeightsRouter(build_one)
        return build_one(weights)

    report = segment_files(
        build, sources, args.out, fov=args.fov, scale=args.scale, threshold=args.threshold,
        tta=args.tta, field_angle=args.field_angle, overwrite=args.overwrite, resume=args.resume,
        outputs=spec, rank=rank, world=world,
        lanes=lambda: default_lanes(_device(args.device, world), args.backend, compile_on(),
                                    n_mine),
    )  # fmt: skip
    failed = report.failed
    done = len(report.rows) - len(failed)
    print(f"segmented {done} of {len(report.rows)} images into {args.out}/ ({report.summary.name})")
    if failed:
        names = ", ".join(r["input"] for r in failed)
        print(f"{len(failed)} input(s) failed: {names}")
        return 1
    return 0
