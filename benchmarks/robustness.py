"""Robustness table: each set of weights on each test set, native, rescaled and colour-shifted.

Usage:
    python benchmarks/robustness.py --weights drive chase general --datasets drive chase \
        --data-root ../shared/data --out results/robustness [--split test] [--limit N]

For every ``(weights, dataset, condition)`` the split's photographs are changed by the
condition, segmented through the path of ``saunet segment`` (:class:`Segmenter`, default
resolution policy, the dataset's FOV mask given, the weights' threshold) and scored with
:func:`saunet.evaluation.protocols.evaluate_maps` (protocol ``fov``: pixels inside the FOV,
pooled over the images). Conditions:

- ``native``: the photographs as published;
- ``rescale 0.5x / 2x / 3x``: photograph, label and FOV mask resized alike
  (:func:`saunet.data.calibre.resize_sample`: bilinear, masks thresholded at 0.5), as if
  another camera had taken them at that resolution;
- ``gamma 1.5``: ``image ** 1.5`` (darker mid-tones, another tone curve);
- ``white balance``: red x1.15, blue x0.8 (a warm cast), clipped to [0, 1];
- ``jpeg 60``: encoded and decoded as JPEG at quality 60 (Pillow, 4:2:0 chroma).

Writes ``OUT/robustness.json`` (every row, with the command, CPU and times) and
``OUT/robustness.md`` (FOV AUC / F1 per condition and weights). Never tune on the test split:
this table is evidence, the policy and the weights are chosen on training images.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from saunet.utils.device import cpu_model

CONDITIONS = ("native", "rescale 0.5x", "rescale 2x", "rescale 3x", "gamma 1.5",
              "white balance", "jpeg 60")  # fmt: skip


def apply_condition(sample: dict, condition: str) -> dict:
    """A copy of ``sample`` (image ``(H, W, 3)`` float in [0, 1], ``label``, ``fov``) changed
    by ``condition`` (one of :data:`CONDITIONS`)."""
    from PIL import Image

    from saunet.data.calibre import resize_sample

    if condition == "native":
        return sample
    if condition.startswith("rescale "):
        return resize_sample(sample, float(condition.split()[1].rstrip("x")))
    img = sample["image"]
    if condition == "gamma 1.5":
        img = img**1.5
    elif condition == "white balance":
        img = np.clip(img * np.array([1.15, 1.0, 0.8], dtype=np.float32), 0.0, 1.0)
    elif condition == "jpeg 60":
        buf = io.BytesIO()
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(buf, "JPEG", quality=60)
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255
    else:
        raise ValueError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    return {**sample, "image": img.astype(np.float32)}


def score(seg, samples: list[dict], condition: str, gain: float = 1.0) -> dict:
    """Segment the changed samples with ``seg`` and score them (FOV protocol); ``gain``
    multiplies the factor the resolution policy picks (1: the policy as shipped)."""
    from saunet.evaluation.protocols import evaluate_maps
    from saunet.inference.scale import MAX_SCALE, MIN_SCALE, choose_scale

    t0 = time.perf_counter()
    probs, changed, scales = [], [], []
    for s in samples:
        c = apply_condition(s, condition)
        factor = "auto"
        if gain != 1.0:
            factor = float(np.clip(choose_scale(c["fov"], seg.meta) * gain, MIN_SCALE, MAX_SCALE))
        res = seg.segment(c["image"], fov=c["fov"], scale=factor)
        probs.append(res.prob)
        scales.append(res.scale)
        changed.append(c)
    doc = evaluate_maps(probs, changed, protocols=("fov",), threshold=seg.threshold, curves=False)
    pooled = doc["fov"]["pooled"]
    return {**{k: pooled[k] for k in ("auc", "f1", "se", "sp")},
            "scale_min": min(scales), "scale_max": max(scales),
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def table(rows: list[dict], weights: list[str], datasets: list[str], gain: float = 1.0) -> str:
    rows = [r for r in rows if r.get("gain", 1.0) == gain]
    head = [
        f"{w} on {d.upper() if d == 'drive' else 'CHASE_DB1'}" for w in weights for d in datasets
    ]
    lines = ["FOV AUC / F1 at the weights' threshold (scale factors the policy chose in brackets)",
             "", "| condition | " + " | ".join(head) + " |",
             "|---|" + "---:|" * len(head)]  # fmt: skip
    for cond in CONDITIONS:
        cells = []
        for w in weights:
            for d in datasets:
                r = next((r for r in rows if (r["weights"], r["dataset"], r["condition"]) == (w, d, cond)), None)  # fmt: skip
                if r is None:
                    cells.append("-")
                    continue
                lo, hi = f"{r['scale_min']:.2f}", f"{r['scale_max']:.2f}"
                sc = lo if lo == hi else f"{lo}-{hi}"
                cells.append(f"{r['auc']:.4f} / {r['f1']:.4f} ({sc})")
        if any(c != "-" for c in cells):
            lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=["drive", "chase"],
                    help="shipped names, checkpoints or run dirs")  # fmt: skip
    ap.add_argument("--names", nargs="+", default=None, help="column names for --weights")
    ap.add_argument("--datasets", nargs="+", default=["drive", "chase"], choices=("drive", "chase"))
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    ap.add_argument("--split", default="test")
    ap.add_argument("--gains", nargs="+", type=float, default=[1.0],
                    help="multiply the policy's factor by each (choose a policy on --split train)")  # fmt: skip
    ap.add_argument("--data-root", default=None, help="datasets root (default: $SAUNET_DATA)")
    ap.add_argument("--limit", type=int, default=None, help="first N images only (smoke runs)")
    ap.add_argument("--precision", default="fp32", help="fp32 (default), auto, bf16")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from saunet.data.datasets import load_dataset
    from saunet.inference.segmenter import Segmenter

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or args.weights
    if len(names) != len(args.weights):
        ap.error("--names needs one name per --weights")
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    t_all = time.perf_counter()
    for d in args.datasets:
        samples = load_dataset(d, args.data_root, args.split)[: args.limit]
        for w, name in zip(args.weights, names, strict=True):
            seg = Segmenter.from_weights(w, precision=args.precision, device="cpu")
            for cond in args.conditions:
                for gain in args.gains:
                    r = {"weights": name, "weights_path": w, "dataset": d, "split": args.split,
                         "n_images": len(samples), "condition": cond, "gain": gain,
                         **score(seg, samples, cond, gain)}  # fmt: skip
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    doc = {
        "command": "python " + " ".join(sys.argv),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "precision": args.precision,
        "minutes": round((time.perf_counter() - t_all) / 60, 1),
        "rows": rows,
    }
    (args.out / "robustness.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = "\n".join(
        (f"## policy factor x{g}\n\n" if len(args.gains) > 1 else "")
        + table(rows, names, args.datasets, g)
        for g in args.gains
    )
    (args.out / "robustness.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
