"""Speed of ``saunet measure``: one DRIVE-size mask, and a folder of photographs.

* **mask**: :func:`saunet.measure.image.measure_mask` (every measure of ``measurements.csv``
  and ``segments.csv``, no disc) on each of the 20 DRIVE test masks of the first observer
  (565 x 584 px) with its FOV mask, ``--repeats`` rounds; reports the median wall and CPU
  time per mask against the target of 0.5 s, and apart from it the optic-disc localisation
  (:func:`saunet.measure.disc.locate_disc`) and the picture (render + PNG write).
* **folder** (``--folder``): the 20 DRIVE test photographs through ``saunet segment``'s
  :func:`saunet.inference.segment_files.segment_files` (three PNGs per image) and through
  :func:`saunet.measure.files.measure_files` (segment, locate the disc, measure, picture,
  CSVs, page) with the same warm segmenter; reports what measuring adds to segmenting
  (target <= 50%).

Run on an otherwise idle machine (a busy CPU inflates every time; the CPU time column is
less sensitive to that)::

    python benchmarks/bench_measure.py [--repeats 3] [--folder] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from saunet.utils.device import cpu_model

TARGET_MASK_S = 0.5
TARGET_FOLDER_ADDED = 0.5


def data_root(arg: str | None) -> Path:
    root = Path(
        arg or os.environ.get("SAUNET_DATA") or Path(__file__).parents[1] / "../shared/data"
    )
    if not (root / "DRIVE" / "test").is_dir():
        sys.exit(f"bench_measure: no DRIVE/test under {root}; pass --data-root or set SAUNET_DATA")
    return root


def bench_masks(root: Path, repeats: int) -> dict:
    from saunet.data.io import read_mask, write_png
    from saunet.measure.disc import locate_disc
    from saunet.measure.image import measure_mask
    from saunet.measure.picture import render_measures

    test = root / "DRIVE" / "test"
    pairs = [
        (read_mask(p), read_mask(test / "mask" / p.name.replace("_manual1", "_test_mask")))
        for p in sorted((test / "1st_manual").glob("*_manual1.gif"))
    ]
    measure_mask(*pairs[0])  # warm-up: imports, first allocations
    wall, cpu, disc_s, picture_s = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for mask, fov in pairs:
                t0, c0 = time.perf_counter(), time.process_time()
                res = measure_mask(mask, fov)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                t0 = time.perf_counter()
                locate_disc(mask, fov)
                disc_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                write_png(Path(tmp) / "x.png", render_measures(res, mask))
                picture_s.append(time.perf_counter() - t0)
    h, w = pairs[0][0].shape
    return {
        "masks": len(pairs), "size": f"{w}x{h}", "repeats": repeats,
        "measure_wall_s_median": statistics.median(wall), "measure_wall_s_max": max(wall),
        "measure_cpu_s_median": statistics.median(cpu),
        "disc_s_median": statistics.median(disc_s),
        "picture_s_median": statistics.median(picture_s),
        "target_s": TARGET_MASK_S, "pass": statistics.median(wall) <= TARGET_MASK_S,
    }  # fmt: skip


def bench_folder(root: Path) -> dict:
    from saunet.inference.inputs import expand_inputs
    from saunet.inference.segment_files import segment_files
    from saunet.inference.segmenter import Segmenter
    from saunet.measure.files import measure_files

    sources = expand_inputs([str(root / "DRIVE" / "test" / "images")])
    seg = Segmenter.from_weights("drive")
    seg.segment(sources[0].load())  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        segment_files(seg, sources, Path(tmp) / "seg", progress=False)
        t_seg = time.perf_counter() - t0
        t0 = time.perf_counter()
        measure_files(sources, Path(tmp) / "measure", segmenter=seg, progress=False)
        t_measure = time.perf_counter() - t0
    added = t_measure / t_seg - 1
    return {
        "images": len(sources), "segment_s": t_seg, "segment_and_measure_s": t_measure,
        "added_fraction": added, "target_added": TARGET_FOLDER_ADDED,
        "pass": added <= TARGET_FOLDER_ADDED,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", help="holds DRIVE/ (default: $SAUNET_DATA or ../shared/data)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--folder", action="store_true", help="also time a 20-photograph folder")
    ap.add_argument("--json-out", help="write the results here")
    args = ap.parse_args(argv)
    root = data_root(args.data_root)
    result: dict = {
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }  # fmt: skip
    m = result["mask"] = bench_masks(root, args.repeats)
    print(f"{result['cpu']}, {result['cores']} cores, load {result['load_average_at_start']:.2f}")
    print(
        f"measure_mask, {m['masks']} DRIVE masks {m['size']} x {m['repeats']}: median "
        f"{m['measure_wall_s_median']:.3f} s wall ({m['measure_cpu_s_median']:.3f} s CPU), "
        f"max {m['measure_wall_s_max']:.3f} s; target <= {TARGET_MASK_S} s: "
        f"{'pass' if m['pass'] else 'FAIL'}"
    )
    print(
        f"apart: disc {m['disc_s_median']:.3f} s, picture {m['picture_s_median']:.3f} s per image"
    )
    ok = m["pass"]
    if args.folder:
        f = result["folder"] = bench_folder(root)
        print(
            f"folder of {f['images']} photographs: segment {f['segment_s']:.1f} s, segment + "
            f"measure {f['segment_and_measure_s']:.1f} s: +{100 * f['added_fraction']:.0f}% "
            f"(target <= +{100 * TARGET_FOLDER_ADDED:.0f}%: {'pass' if f['pass'] else 'FAIL'})"
        )
        ok = ok and f["pass"]
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
