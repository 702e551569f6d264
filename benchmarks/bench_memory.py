"""Peak memory of ``saunet segment`` on an HRF-size (3504 x 2336) photograph.

Usage: python benchmarks/bench_memory.py [--weights drive|PATH] [--scale 1 auto]
       [--precision auto fp32] [--tile 1024] [--limit-mb 1500]

Writes a synthetic fundus photograph (a textured disc cropped at the top and bottom, like
HRF) and runs ``saunet segment`` on it in a fresh process per configuration; each
configuration is measured by its own intermediate process, whose
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the peak resident set size of the
segment process alone. Without ``--weights`` (or when the shipped weights are missing) a
random SA-UNet checkpoint is used: memory does not depend on the weight values. Prints a
markdown table; exits 1 if any configuration exceeds ``--limit-mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

H, W = 2336, 3504


def synthetic_photo(path: Path) -> None:
    from PIL import Image

    yy, xx = np.ogrid[:H, :W]
    disc = (yy - H / 2) ** 2 + (xx - W / 2) ** 2 < (0.47 * W) ** 2  # cropped top/bottom
    rng = np.random.default_rng(0)
    img = np.empty((H, W, 3), np.uint8)
    for c, (lo, hi) in enumerate([(90, 230), (30, 120), (0, 60)]):
        img[..., c] = (rng.integers(lo, hi, (H, W), dtype=np.uint8) * disc).astype(np.uint8)
    Image.fromarray(img).save(path, quality=92)


def random_checkpoint(path: Path) -> Path:
    import torch

    from saunet import build_model
    from saunet.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("sa-unet").eval()
    meta = {"model_config": model.config.to_dict(), "threshold": 0.5,
            "scale": {"fov_diameter_px": 540.0, "field_angle_deg": 45.0, "calibre_factor": 1.0}}  # fmt: skip
    tensors = {"model." + k: v for k, v in model.state_dict().items()}
    return save_checkpoint(path, tensors, meta, sidecar=False)


def child(cmd: list[str]) -> None:
    """Run ``cmd``; print its peak RSS (MB) and wall time as JSON."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    if sys.platform == "darwin":
        rss_kb //= 1024  # bytes on macOS
    print(json.dumps({"rc": proc.returncode, "peak_mb": rss_kb / 1024, "seconds": wall,
                      "stdout": proc.stdout[-2000:], "stderr": proc.stderr[-2000:]}))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="weights to use (default: random SA-UNet)")
    ap.add_argument("--scale", nargs="+", default=["1", "auto"])
    ap.add_argument("--precision", nargs="+", default=["auto", "fp32"])
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--limit-mb", type=float, default=1500.0)
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    from saunet.utils.device import cpu_supports_bf16

    rows, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        photo = tmp_path / "hrf_size.jpg"
        synthetic_photo(photo)
        weights = args.weights or str(random_checkpoint(tmp_path / "random.safetensors"))
        saunet = [sys.executable, "-m", "saunet"]
        for scale in args.scale:
            for prec in args.precision:
                out = tmp_path / f"out-{scale}-{prec}"
                cmd = [*saunet, "segment", str(photo), "--weights", weights, "--out", str(out),
                       "--scale", scale, "--precision", prec, "--device", "cpu"]  # fmt: skip
                if args.tile is not None:
                    cmd += ["--tile", str(args.tile)]
                res = subprocess.run(
                    [sys.executable, __file__, "--child", *cmd], capture_output=True, text=True
                )
                doc = json.loads(res.stdout.strip().splitlines()[-1])
                if doc["rc"] != 0:
                    print(doc["stderr"], file=sys.stderr)
                summary = (out / "summary.csv").read_text().splitlines()
                used_scale = summary[1].split(",")[4] if len(summary) > 1 else "?"
                worst = max(worst, doc["peak_mb"])
                rows.append(f"| {scale} ({used_scale}) | {prec} | {doc['peak_mb']:.0f} | "
                            f"{doc['seconds']:.1f} | {doc['rc']} |")  # fmt: skip
    print(f"\n`saunet segment` on a {W}x{H} JPEG, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, native bf16: {cpu_supports_bf16()}\n")  # fmt: skip
    print("| --scale (used) | --precision | peak RSS MB | wall s | exit |")
    print("|---|---|---:|---:|---:|")
    print("\n".join(rows))
    ok = worst <= args.limit_mb
    print(
        f"\nworst peak {worst:.0f} MB, limit {args.limit_mb:.0f} MB: {'OK' if ok else 'EXCEEDED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
