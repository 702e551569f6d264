"""End-to-end speed of ``saunet segment`` as shipped: folder throughput against model-only time.

For each ``--compile`` mode (off: the default for small folders; on: the default for
archives of ``COMPILE_MIN_IMAGES`` or more on CPU) this builds the segmenter exactly as the
CLI does (``Segmenter.from_weights`` with its defaults: BatchNorm folded, channels-last,
bf16 autocast where native, tiles aligned to 16 px) and measures, on the same images:

* **model-only**: the predictor alone on each image's window, images decoded beforehand
  (what the network costs);
* **end to end**: :func:`saunet.inference.segment_files.segment_files` over the folder (decode, FOV
  estimate, scale, predict, three files + summary CSV) in the lanes the CLI picks
  (:func:`saunet.inference.lanes.default_lanes`: two on a CPU), median of the per-image wall
  time over ``--repeats`` rounds; and one image alone (single-image latency);
* the same folder in one lane (the reader/writer pipeline) and with ``pipeline=False`` (every
  step on one thread), to show what each schedule buys;
* the ratio end to end / model-only (target <= 1.25, issue "fast and light on every CPU").

Each round measures everything once, in turn, so that a drift of the machine's speed touches
every measure alike. Warm-up (first call; the compilation for ``on``) is timed separately
and excluded.
An accuracy guard compares the shipped path's probability maps with fp32 eager maps of the
same weights without alignment (pooled FOV AUC and F1 at the weights' threshold, DRIVE
test set): it must stay within 0.0005 AUC and 0.002 F1.

Run (2 threads, quiet machine)::

    python benchmarks/bench_segment.py --weights drive --json-out results/bench_segment.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

MAX_DAUC, MAX_DF1 = 0.0005, 0.002


def model_only(seg: Any, images: list[np.ndarray]) -> float:
    """Seconds per image of the predictor alone on the windows ``segment`` would feed it."""
    from saunet.inference.tiling import predict_tiled

    div = math.lcm(seg.divisor, seg.align)
    t0 = time.perf_counter()
    for im in images:
        predict_tiled(seg.predictor, im, tile=seg.tile, margin=seg.margin, divisor=div)
    return (time.perf_counter() - t0) / len(images)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its threads."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def end_to_end(
    seg: Any, sources: list, workdir: Path, repeats: int, pipeline: bool = True, lanes: int = 1
) -> list[float]:
    from saunet.inference.segment_files import segment_files

    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        out = workdir / f"run{r}"
        rep = segment_files(seg, sources, out, progress=False, pipeline=pipeline, lanes=lanes)
        times.append((time.perf_counter() - t0) / len(sources))
        if rep.failed:
            raise RuntimeError(f"segment failed on {[x['input'] for x in rep.failed]}")
    return times


def guard(weights: str, seg: Any, root: Path, n: int) -> dict[str, float]:
    """FOV AUC / F1 of the shipped path vs fp32 eager without alignment on DRIVE test."""
    from saunet.data.datasets import load_dataset
    from saunet.evaluation.protocols import evaluate_maps
    from saunet.inference.segmenter import Segmenter

    samples = load_dataset("drive", root, "test")[:n]
    ref = Segmenter.from_weights(weights, precision="fp32", compile=False, align=1)
    out = {}
    for name, s in (("reference", ref), ("shipped", seg)):
        maps = [s.segment(x["image"], fov=x["fov"], scale=1.0).prob for x in samples]
        doc = evaluate_maps(
            maps, samples, protocols=("fov",), threshold=seg.threshold, curves=False
        )
        out[f"{name}_auc"] = doc["fov"]["pooled"]["auc"]
        out[f"{name}_f1"] = doc["fov"]["pooled"]["f1"]
    out["d_auc"] = out["shipped_auc"] - out["reference_auc"]
    out["d_f1"] = out["shipped_f1"] - out["reference_f1"]
    out["eligible"] = abs(out["d_auc"]) <= MAX_DAUC and abs(out["d_f1"]) <= MAX_DF1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--weights", default="drive")
    ap.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        help="network precision (default: auto, as the CLI)",
    )
    ap.add_argument("--data-root", default=os.environ.get("SAUNET_DATA", "../shared/data"))
    ap.add_argument("--folder", default=None, help="default: DRIVE/test/images of the data root")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--modes", nargs="+", default=["off", "on"], choices=("off", "on"))
    ap.add_argument(
        "--lanes",
        type=int,
        default=None,
        help="lanes of the end-to-end run (default: what the CLI picks, 2 on a CPU)",
    )
    ap.add_argument("--no-guard", action="store_true")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)

    from saunet.data.io import read_image
    from saunet.inference.inputs import expand_inputs
    from saunet.inference.lanes import default_lanes
    from saunet.inference.segmenter import Segmenter
    from saunet.utils.device import describe_hardware

    torch.set_num_threads(args.threads)
    root = Path(args.data_root)
    folder = Path(args.folder) if args.folder else root / "DRIVE" / "test" / "images"
    if not folder.is_dir():
        print(f"{folder}: no such folder; pass --folder or --data-root", file=sys.stderr)
        return 2
    sources = expand_inputs([str(folder)])
    images = [read_image(s.path) for s in sources]
    doc: dict[str, Any] = {
        "command": "python benchmarks/bench_segment.py " + " ".join(argv or sys.argv[1:]),
        "date": date.today().isoformat(), "cpu": describe_hardware(torch.device("cpu"))["cpu"], "threads": args.threads,
        "torch": torch.__version__, "images": len(sources), "folder": folder.name,
        "loadavg_start": os.getloadavg()[0], "modes": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as tmp:
        for mode in args.modes:
            seg = Segmenter.from_weights(
                args.weights, compile=mode == "on", precision=args.precision
            )
            t0 = time.perf_counter()
            model_only(seg, images[:1])  # warm-up; compiles for mode "on"
            warm = time.perf_counter() - t0
            model_only(seg, images[:2])
            lanes = args.lanes or default_lanes("auto", "torch", mode == "on", len(sources))
            # Rounds interleave every measure, so that a drift of the machine's speed (AMX
            # warm-up, a neighbour's load) touches the predictor and end to end alike.
            runs: dict[str, list[float]] = {
                "mo": [],
                "e2e": [],
                "one": [],
                "serial": [],
                "single": [],
            }
            busy = []  # cores kept busy during the lanes runs (process CPU time / wall time)
            for r in range(args.repeats):
                work = Path(tmp) / f"{mode}-{r}"
                runs["mo"].append(model_only(seg, images))
                cpu0, t0 = _cpu_seconds(), time.perf_counter()
                runs["e2e"] += end_to_end(seg, sources, work / "lanes", 1, lanes=lanes)
                busy.append((_cpu_seconds() - cpu0) / (time.perf_counter() - t0))
                runs["one"] += end_to_end(seg, sources, work / "one-lane", 1)
                runs["serial"] += end_to_end(seg, sources, work / "serial", 1, False)
                runs["single"] += end_to_end(seg, sources[:1], work / "single", 1)
            med = {k: 1000 * statistics.median(v) for k, v in runs.items()}
            m = {
                "warmup_s": warm, "model_only_ms": med["mo"], "lanes": lanes,
                "e2e_ms_per_image": med["e2e"], "one_lane_ms_per_image": med["one"],
                "serial_ms_per_image": med["serial"], "single_image_ms": med["single"],
                "runs_ms": {k: [round(1000 * t, 1) for t in v] for k, v in runs.items()},
                "ratio_per_round": [e / p for e, p in zip(runs["e2e"], runs["mo"], strict=True)],
                "cores_busy_in_lanes": statistics.median(busy),
                "compiled": getattr(seg.predictor, "compiled", None) is not None,
            }  # fmt: skip
            m["ratio"] = m["e2e_ms_per_image"] / m["model_only_ms"]
            if not args.no_guard and (root / "DRIVE").is_dir():
                m["guard"] = guard(args.weights, seg, root, len(sources))
            doc["modes"][mode] = m
            print(json.dumps({mode: m}, indent=1), flush=True)
    doc["loadavg_end"] = os.getloadavg()[0]
    lines = [
        f"{doc['cpu']}, {args.threads} threads, torch {doc['torch']}, {doc['date']}, "
        f"{len(sources)} images of {folder.name}/",
        "| --compile | warm-up s | model-only ms/img | end to end ms/img (lanes) | ratio | "
        "one lane (pipeline) ms/img | serial (no threads) ms/img | single image ms | "
        "cores busy (lanes) | guard dAUC | guard dF1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, m in doc["modes"].items():
        g = m.get("guard", {})
        lines.append(
            f"| {mode}{'' if m['compiled'] or mode == 'off' else ' (fell back to eager)'} | "
            f"{m['warmup_s']:.1f} | {m['model_only_ms']:.1f} | "
            f"{m['e2e_ms_per_image']:.1f} ({m['lanes']}) | {m['ratio']:.2f} | "
            f"{m['one_lane_ms_per_image']:.1f} | {m['serial_ms_per_image']:.1f} | "
            f"{m['single_image_ms']:.1f} | {m['cores_busy_in_lanes']:.2f} | "
            f"{g.get('d_auc', float('nan')):+.5f} | {g.get('d_f1', float('nan')):+.5f} |"
        )
    doc["table"] = "\n".join(lines)
    if args.json_out:
        from saunet.utils.files import atomic_write_text

        atomic_write_text(args.json_out, json.dumps(doc, indent=2) + "\n")
    print(doc["table"] + (f"\nwrote {args.json_out}" if args.json_out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
