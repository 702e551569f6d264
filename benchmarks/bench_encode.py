"""Size and encoding time of every output format ``saunet segment`` can write.

Segments one photograph with the shipped DRIVE weights (once, not timed), then encodes its
probability map, mask and overlay in each format (:mod:`saunet.inference.encode`), best of
``--repeat`` runs, on one thread (the writer thread's share of a 2-core machine).

Usage: python benchmarks/bench_encode.py [IMAGE] [--repeat 5] [--json out.json]
Example: python benchmarks/bench_encode.py ../shared/data/DRIVE/test/images/01_test.tif
(without IMAGE: skimage.data.retina(), 1411 x 1411).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from saunet.utils.device import cpu_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("image", nargs="?", help="photograph (default: skimage.data.retina())")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = ap.parse_args()

    import torch

    from saunet.data.io import read_image, write_png
    from saunet.inference.encode import write_mask, write_overlay, write_prob_map
    from saunet.inference.overlay import overlay
    from saunet.inference.segmenter import Segmenter

    torch.set_num_threads(1)
    if args.image:
        image, label = read_image(args.image), Path(args.image).name
    else:
        from skimage import data

        image, label = data.retina(), "skimage.data.retina()"
    res = Segmenter.from_weights("drive", device="cpu").segment(image)
    prob = np.where(res.fov, res.prob, 0.0).astype(np.float32)
    rgb = overlay(image, res.mask, fov=res.fov)
    cases = {
        "prob png16 (default)": lambda p: write_prob_map(p, prob, "png16"),
        "prob tiff (float32)": lambda p: write_prob_map(p, prob, "tiff"),
        "prob npy (float32)": lambda p: write_prob_map(p, prob, "npy"),
        "prob png8 (lossy, before)": lambda p: write_png(p, prob),
        "mask png (default)": lambda p: write_mask(p, res.mask),
        "mask png, Pillow's encoder (before)": lambda p: write_png(p, res.mask),
        "overlay drawing (in memory, no file)": lambda p: overlay(image, res.mask, fov=res.fov),
        "overlay jpg q90 (default)": lambda p: write_overlay(p, rgb, "jpg"),
        "overlay png": lambda p: write_overlay(p, rgb, "png"),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, write in cases.items():
            path = Path(tmp) / name.split()[0]
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                write(path)
                best = min(best, time.perf_counter() - t0)
            size = path.stat().st_size if path.exists() else 0
            path.unlink(missing_ok=True)
            rows.append({"output": name, "bytes": size, "ms": round(best * 1e3, 1)})
    h, w = prob.shape
    print(f"{label}, {w} x {h}; {cpu_model()}, 1 thread, best of {args.repeat}")
    print("| output | size | encode |\n|---|---:|---:|")
    for r in rows:
        size = f"{r['bytes'] / 1e3:,.0f} kB" if r["bytes"] else "-"
        print(f"| {r['output']} | {size} | {r['ms']:.0f} ms |")
    if args.json:
        doc = {"image": label, "size": [w, h], "cpu": cpu_model(), "rows": rows}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
