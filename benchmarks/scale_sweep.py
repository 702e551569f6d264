"""Cross-dataset scale sweep: which resize factor suits weights on another camera's images?

Usage:
    python benchmarks/scale_sweep.py --weights drive --dataset chase \
        --data-root ../shared/data --scales 0.3 0.4 0.5 0.6 0.8 1.0 [--split train]
    python benchmarks/scale_sweep.py --weights chase --dataset drive --scales 1 1.25 1.5 1.75 2

For every factor, each image of the split is segmented through the same code path as
``saunet segment`` (:class:`saunet.inference.segmenter.Segmenter`: resize, tiled prediction, map
resized back to the original size) with the dataset's FOV mask, and the maps are scored
with :func:`saunet.evaluation.protocols.evaluate_maps` under the ``fov`` protocol (pixels inside the
FOV, pooled over images) at the weights' threshold. ``--json`` writes the rows in the
format ``saunet report`` reads from ``results/cross/*.json``. The ``auto`` row is the policy of
:mod:`saunet.inference.scale` (FOV matching), and ``auto+angle`` the calibre-matching variant when
``--field-angle`` gives the dataset's camera field angle (DRIVE 45, CHASE_DB1 30).

The default split is ``train``: a resolution policy (and the ``calibre_factor`` stored with
the weights) must be chosen without looking at test images. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time


def sweep_row(seg, samples, scale, threshold, field_angle=None) -> dict:
    from saunet.evaluation.protocols import evaluate_maps

    t0 = time.perf_counter()
    probs, used = [], []
    for s in samples:
        res = seg.segment(s["image"], fov=s["fov"], scale=scale, field_angle=field_angle)
        probs.append(res.prob)
        used.append(res.scale)
    doc = evaluate_maps(probs, samples, protocols=("fov",), threshold=threshold, curves=False)
    pooled = doc["fov"]["pooled"]
    out = {k: pooled[k] for k in ("auc", "f1", "se", "sp", "acc", "mcc")}
    return {**out, "scale_min": min(used), "scale_max": max(used),
            "seconds": time.perf_counter() - t0}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="drive, chase, checkpoint or run dir")
    ap.add_argument("--dataset", required=True, choices=("drive", "chase"))
    ap.add_argument("--data-root", default=None, help="datasets root (default: $SAUNET_DATA)")
    ap.add_argument("--split", default="train", help="default: train (never tune on test)")
    ap.add_argument("--scales", nargs="+", type=float, default=[0.5, 0.75, 1.0, 1.5])
    ap.add_argument("--field-angle", type=float, default=None, help="the dataset's camera, deg")
    ap.add_argument("--threshold", type=float, default=None, help="default: the weights'")
    ap.add_argument("--limit", type=int, default=None, help="first N images only (smoke runs)")
    ap.add_argument("--tta", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument(
        "--json", metavar="PATH", help="also write the rows, e.g. results/cross/drive-on-chase.json"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from saunet.data.datasets import load_dataset
    from saunet.inference.scale import scale_reference
    from saunet.inference.segmenter import Segmenter

    if args.split == "test":
        print("warning: sweeping the test split; do not choose a policy from it", file=sys.stderr)
    samples = load_dataset(args.dataset, args.data_root, args.split)[: args.limit]
    seg = Segmenter.from_weights(args.weights, device=args.device, precision=args.precision,
                                 tta=args.tta)  # fmt: skip
    thr = seg.threshold if args.threshold is None else args.threshold
    ref = scale_reference(seg.meta)
    runs: list[tuple[str, object, float | None]] = [(f"{s:g}", s, None) for s in args.scales]
    runs.append(("auto", "auto", None))
    if args.field_angle is not None:
        runs.append(("auto+angle", "auto", args.field_angle))
    print(f"\nweights {seg.name} (training FOV {ref.fov_diameter_px} px, field angle "
          f"{ref.field_angle_deg} deg, calibre factor {ref.calibre_factor}; from {ref.source}) "
          f"on {args.dataset} {args.split} ({len(samples)} images), protocol fov, threshold "
          f"{thr:.3g}{', TTA' if args.tta else ''}\n")  # fmt: skip
    print("| scale | factor used | FOV AUC | FOV F1 | SE | SP | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|")
    best, doc_rows = None, []
    for label, scale, angle in runs:
        r = sweep_row(seg, samples, scale, thr, angle)
        lo, hi = f"{r['scale_min']:.4g}", f"{r['scale_max']:.4g}"
        used = lo if lo == hi else f"{lo}-{hi}"
        print(f"| {label} | {used} | {r['auc']:.4f} | {r['f1']:.4f} | {r['se']:.4f} | "
              f"{r['sp']:.4f} | {r['seconds']:.0f} |", flush=True)  # fmt: skip
        doc_rows.append(
            {"weights": seg.name, "dataset": args.dataset, "split": args.split,
             "scale": label if lo == hi == label else f"{label} ({used})",
             "scale_min": r["scale_min"], "scale_max": r["scale_max"],
             "n_images": len(samples), "threshold": thr, "tta": args.tta,
             **{f"fov_{k}": r[k] for k in ("auc", "f1", "se", "sp", "acc", "mcc")}}
        )  # fmt: skip
        if label not in ("auto", "auto+angle") and (best is None or r["auc"] > best[1]):
            best = (label, r["auc"])
    if best is not None:
        print(f"\nbest fixed factor by FOV AUC: {best[0]}")
    if args.json:
        from saunet.models.checkpoint import resolve_checkpoint
        from saunet.utils.files import atomic_write_text, file_sha256

        weights_file = resolve_checkpoint(args.weights)
        doc = {
            "command": "python benchmarks/scale_sweep.py " + " ".join(sys.argv[1:]),
            "weights_file": weights_file.name,
            "weights_sha256": file_sha256(weights_file),
            "rows": doc_rows,
        }
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
