"""CPU inference latency per image of every registry model (Table IV of REPORT.md).

Forward pass of one 592x592 image (batch 1, eval mode, no grad), median of ``--repeats``
timed passes after ``--warmup`` untimed ones, in two settings: eager fp32 (contiguous
memory) and bf16 autocast with channels-last memory. Writes a JSON document that
``saunet report`` reads from ``results/latency.json``::

    {"cpu": ..., "torch": ..., "date": "YYYY-MM-DD", "threads": 2, "size": [592, 592],
     "batch": 1, "repeats": 5, "warmup": 2, "native_bf16": true,
     "models": {"sa-unet": {"fp32_ms": ..., "bf16_channels_last_ms": ...}, ...}}

Run it on an otherwise idle machine; a busy CPU inflates every number.

Usage:
    python benchmarks/bench_latency.py --out results/latency.json
    python benchmarks/bench_latency.py --models sa-unet unet18 --repeats 3 --out /tmp/lat.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import time
from pathlib import Path

import torch

from saunet.models import build_model, model_names
from saunet.utils.device import cpu_supports_bf16, describe_hardware
from saunet.utils.files import atomic_write_text


def latency_ms(name: str, size: int, bf16_channels_last: bool, repeats: int, warmup: int) -> float:
    """Median wall time of one forward pass in milliseconds."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.rand(1, 3, size, size)
    if bf16_channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16)
    else:
        ctx = contextlib.nullcontext()
    times = []
    with torch.inference_mode(), ctx:
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    times.sort()
    return 1000 * times[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True, help="JSON file, e.g. results/latency.json")
    ap.add_argument(
        "--models", nargs="+", default=model_names(), help="default: every registry model"
    )
    ap.add_argument("--size", type=int, default=592, help="input side (default 592, DRIVE padded)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes (median reported)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed passes first")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in args.models:
        fp32 = latency_ms(name, args.size, False, args.repeats, args.warmup)
        bf16 = latency_ms(name, args.size, True, args.repeats, args.warmup)
        results[name] = {"fp32_ms": round(fp32, 2), "bf16_channels_last_ms": round(bf16, 2)}
        print(f"{name}: fp32 {fp32:.1f} ms, bf16 channels-last {bf16:.1f} ms", flush=True)
    doc = {
        "cpu": describe_hardware(torch.device("cpu"))["cpu"],
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "threads": args.threads,
        "size": [args.size, args.size],
        "batch": 1,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "native_bf16": cpu_supports_bf16(),
        "models": results,
    }
    atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
