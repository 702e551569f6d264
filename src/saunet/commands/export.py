"""``saunet export``: a checkpoint as an ONNX model with dynamic batch, height and width."""

from __future__ import annotations

import argparse
from pathlib import Path

from saunet.commands import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export weights to ONNX (dynamic batch/height/width)",
        description="Export shipped weights or a checkpoint to ONNX (torch.onnx dynamo "
        "exporter). Input 'image' float32 (batch, 3, H, W) = RGB in [0, 1], output 'prob' "
        "(batch, 1, H, W) vessel probabilities; H and W must be multiples of 8: pad with "
        "zeros (centred) and crop the output back, as saunet segment --backend onnx does. "
        "The ONNX metadata (key 'saunet') holds the weights' threshold, training scale, "
        "file name and sha256, and this input/output convention; docs/segment.md has a "
        "plain onnxruntime client. The export is checked against PyTorch with onnxruntime "
        "if installed.",
        formatter_class=HelpFormatter,
        epilog="Examples:\n"
        "  saunet export --weights drive --format onnx --out sa-unet-drive.onnx\n"
        "  saunet segment photos/ --backend onnx --onnx sa-unet-drive.onnx --out vessels",
    )
    p.add_argument("--weights", default="drive", metavar="drive|chase|PATH", help="default: drive")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="default: onnx")
    p.add_argument("--out", metavar="FILE", help="output file (default: <weights name>.onnx)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 18, min 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.set_defaults(func=run)


def _check(model, path: Path) -> float | None:
    """Max |ONNX - PyTorch| probability on a random 2x3x64x96 batch; None without onnxruntime."""
    import numpy as np
    import torch

    try:
        from saunet.inference.export import OnnxPredictor

        pred = OnnxPredictor(path)
    except ImportError:
        return None
    x = np.random.default_rng(0).random((2, 3, 64, 96), dtype=np.float32)
    with torch.inference_mode():
        ref = torch.sigmoid(model(torch.from_numpy(x)))[:, 0].numpy()
    return float(np.abs(pred(x) - ref).max())


def run(args: argparse.Namespace) -> int:
    from saunet.errors import UserError
    from saunet.inference.export import OPSET, export_onnx
    from saunet.models.checkpoint import load_model

    opset = OPSET if args.opset is None else args.opset
    if opset < 17:
        raise UserError(f"--opset {opset}: use 17 or newer")
    try:
        model, meta = load_model(args.weights, device="cpu")
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out or f"{Path(meta['path']).stem}.onnx")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out}: exists; pass --overwrite to replace it")
    export_onnx(model, out, meta, opset=opset)
    print(f"wrote {out} (opset {opset}, input image (batch, 3, 8*h8, 8*w8))")
    if not args.no_check:
        diff = _check(model, out)
        if diff is None:
            print("onnxruntime not installed: export not checked")
        elif diff > 1e-4:
            print(f"warning: ONNX and PyTorch probabilities differ by up to {diff:.2e}")
            return 1
        else:
            print(f"checked with onnxruntime: max |ONNX - PyTorch| = {diff:.1e}")
    return 0
