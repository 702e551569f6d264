"""Latency of the inference paths ``saunet segment`` can run, on one 592x592 image.

Each path is a :class:`saunet.inference.segmenter.Segmenter` built through the public API,
the way the CLI builds it:

| path | ``saunet segment`` options |
|---|---|
| ``torch-fp32`` | none: the baseline, the checkpoint's network unfolded (channels-last, fp32) |
| ``folded-fp32`` | ``--precision fp32`` (BatchNorm folded, :func:`saunet.inference.fast.fold_batchnorm`) |
| ``folded-bf16`` | ``--precision bf16``, what ``auto`` picks on a CPU with native bf16; skipped without |
| ``onnx-fp32`` | ``--backend onnx`` (:func:`saunet.inference.export.export_onnx`); skipped without onnxruntime |
| ``compiled`` | ``--compile on`` with ``--precision auto``; only with ``--compile`` (~8-25 s to compile) |

For each path it times the predictor alone on the ``(1, 3, 592, 592)`` input (the network)
and :meth:`Segmenter.segment` on the image (FOV estimate, tiling, the network, the map back),
median of ``--repeats`` calls after one warm-up call (timed apart: it compiles), with the
paths interleaved so that a change of machine load hits all alike. ``max_abs_dp`` is the
largest probability difference from ``torch-fp32``. The JSON output names the CPU (model
name and bf16/AVX-512/AMX flags from ``/proc/cpuinfo``): timings mean little without it.
End-to-end folder throughput and ``--compile`` are in ``bench_segment.py``.

Usage:
    python benchmarks/bench_inference.py [--weights drive|PATH] [--repeats 5] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saunet.inference.inputs import demo_source
from saunet.inference.scale import resize_image
from saunet.inference.segmenter import Segmenter, TorchPredictor
from saunet.models.checkpoint import load_model
from saunet.utils.device import cpu_supports_bf16, describe_hardware, resolve_precision
from saunet.utils.files import atomic_write_text

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_kind() -> dict[str, Any]:
    """The CPU's model name and the flags that decide the fast paths, from ``/proc/cpuinfo``."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {
        "model": describe_hardware(torch.device("cpu"))["cpu"],
        "flags": {f: f in flags for f in CPU_FLAGS},
        "native_bf16": cpu_supports_bf16(),
    }


def build_paths(weights: str, tmp: Path, compile: bool) -> tuple[dict[str, Segmenter], dict]:
    """The segmenters to time, and the paths skipped on this machine with the reason."""
    cpu = torch.device("cpu")
    model, meta = load_model(weights, device="cpu")
    paths = {
        "torch-fp32": Segmenter(TorchPredictor(model, cpu), meta, divisor=model.divisor),
        "folded-fp32": Segmenter.from_weights(weights, device="cpu", precision="fp32"),
    }
    skipped = {}
    if cpu_supports_bf16():
        paths["folded-bf16"] = Segmenter.from_weights(weights, device="cpu", precision="bf16")
    else:
        skipped["folded-bf16"] = "no native bf16 (AVX-512 BF16 or AMX): `auto` runs fp32 here"
    if importlib.util.find_spec("onnxruntime") is None:
        skipped["onnx-fp32"] = "onnxruntime is not installed (pip install 'saunet[onnx]')"
    else:
        from saunet.inference.export import export_onnx

        # A second copy: the export moves the network's weights to contiguous memory.
        onnx = export_onnx(load_model(weights, device="cpu")[0], tmp / "model.onnx", meta)
        paths["onnx-fp32"] = Segmenter.from_weights(
            weights, device="cpu", backend="onnx", onnx_path=str(onnx)
        )
    if compile:
        paths["compiled"] = Segmenter.from_weights(weights, device="cpu", compile=True)
    return paths, skipped


def load_image(path: str | None, size: int) -> np.ndarray:
    """``path`` (default: the demo photograph) resized to ``size x size``."""
    if path:
        from saunet.data.io import read_image

        image = read_image(path)
    else:
        image = demo_source().load()
    return resize_image(image, (size, size))


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run(paths: dict[str, Segmenter], image: np.ndarray, repeats: int) -> dict[str, dict]:
    """Warm-up, then ``repeats`` rounds of every path; medians in milliseconds."""
    x = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
    res: dict[str, dict] = {}
    for name, seg in paths.items():
        first, prob = _timed(lambda s=seg: s.segment(image, scale=1.0).prob)
        seg.predictor(x)  # the network alone may see other strides: warm that up too
        res[name] = {"first_call_s": round(first, 2), "prob": prob, "net": [], "segment": []}
    for _ in range(repeats):
        for name, seg in paths.items():
            res[name]["net"].append(_timed(lambda s=seg: s.predictor(x))[0])
            res[name]["segment"].append(_timed(lambda s=seg: s.segment(image, scale=1.0))[0])
    base = res["torch-fp32"]
    out = {}
    for name, r in res.items():
        net, seg = statistics.median(r["net"]), statistics.median(r["segment"])
        out[name] = {
            "network_ms": round(1000 * net, 1),
            "segment_ms": round(1000 * seg, 1),
            "speedup": round(statistics.median(base["segment"]) / seg, 2),
            "first_call_s": r["first_call_s"],
            "max_abs_dp": float(np.abs(r["prob"] - base["prob"]).max()),
            "precision": getattr(paths[name].predictor, "precision", "fp32"),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--weights", default="drive", help="shipped name or checkpoint (default drive)")
    ap.add_argument("--image", default=None, help="photograph to time (default: the demo image)")
    ap.add_argument("--size", type=int, default=592, help="image side (default 592, DRIVE padded)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    ap.add_argument("--compile", action="store_true", help="also time `--compile on`")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    image = load_image(args.image, args.size)
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        paths, skipped = build_paths(args.weights, Path(tmp), args.compile)
        results = run(paths, image, args.repeats)
    default = "folded-bf16" if resolve_precision("auto", torch.device("cpu")) else "folded-fp32"
    doc = {
        "command": "python benchmarks/bench_inference.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_kind(),
        "threads": args.threads,
        "torch": torch.__version__,
        "weights": args.weights,
        "image": args.image or "skimage.data.retina() (demo)",
        "size": [args.size, args.size],
        "repeats": args.repeats,
        "segment_default": default,
        "paths": results,
        "skipped": skipped,
    }
    cpu = doc["cpu"]
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of " + ", ".join(
        CPU_FLAGS
    )
    print(f"{cpu['model']} ({flags}), {args.threads} threads, torch {torch.__version__}")
    print("| path | precision | network ms | segment ms | speed-up | first call s | max abs dp |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        mark = " (segment's default here)" if name == default else ""
        print(
            f"| {name}{mark} | {r['precision']} | {r['network_ms']} | {r['segment_ms']} | "
            f"{r['speedup']:.2f}x | {r['first_call_s']} | {r['max_abs_dp']:.1e} |"
        )
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
