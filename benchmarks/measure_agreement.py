"""Human agreement of ``saunet measure``: observer 2 and saunet, each against observer 1.

For every test image of DRIVE (20) and CHASE_DB1 (8, Image_11L..Image_14R) this measures
three vessel masks with :func:`saunet.measure.image.measure_mask`, inside the dataset's FOV
mask:

* **obs1**: the first human observer (``1st_manual``, ``_1stHO``), the reference;
* **obs2**: the second human observer (``2nd_manual``, ``_2ndHO``), the human baseline;
* **saunet**: the shipped weights' mask (``drive`` on DRIVE, ``chase`` on CHASE_DB1) from
  :meth:`saunet.inference.segmenter.Segmenter.segment` with the dataset's FOV mask, as
  ``saunet measure --fov`` would segment it.

The three share one optic disc per image, located once from the photograph and observer 1's
vessels (:func:`saunet.measure.disc.locate_disc`), so zone measures differ only by the
vessels. Per measure and dataset, :func:`saunet.measure.agreement.agreement` gives the mean
difference (rater - obs1), 95% limits of agreement, RMS difference and ICC(2,1) of obs2 and
of saunet; ``ratio`` = RMS(saunet - obs1) / RMS(obs2 - obs1), flagged above 1.5. The last
row, ``mean_width_fwhm_px``, keeps the observers' area / length width and takes saunet's
width across its probability map instead (:func:`saunet.measure.calibre.fwhm_width`).

Writes into ``--out``: ``per_image.csv`` (every measure of every mask), ``agreement.json``
and ``agreement.md`` (the tables of docs/measure.md), and prints the tables::

    python benchmarks/measure_agreement.py --out results/measure-agreement
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

MEASURES = (
    "vessel_density", "fractal_dimension", "skeleton_length_px", "mean_width_px",
    "segments", "branch_points", "end_points", "tortuosity_distance", "tortuosity_density",
    "zone_b_density", "zone_b_mean_width_px", "zone_c_density", "zone_c_mean_width_px",
    "mean_width_fwhm_px",
)  # fmt: skip
RATERS = ("obs1", "obs2", "saunet")
FLAG_RATIO = 1.5
DATASETS = {"drive": "DRIVE", "chase": "CHASE_DB1"}


def measure_dataset(name: str, root: Path) -> list[dict]:
    """One row per image and rater: every measure of :data:`MEASURES`."""
    from saunet.data.datasets import list_files
    from saunet.data.io import read_image, read_mask
    from saunet.inference.segmenter import Segmenter
    from saunet.measure.calibre import fwhm_width
    from saunet.measure.disc import locate_disc
    from saunet.measure.image import measure_mask

    seg = Segmenter.from_weights(name)
    rows = []
    for f in list_files(name, root, "test"):
        image, fov = read_image(f.image), read_mask(f.fov)
        res = seg.segment(image, fov=fov)
        masks = {"obs1": read_mask(f.label), "obs2": read_mask(f.second_label), "saunet": res.mask}
        disc = locate_disc(masks["obs1"], fov, image)
        for rater, mask in masks.items():
            measured = measure_mask(mask, fov, name=f.name, disc=disc)
            row = dict(measured.row)
            # The observers drew binary masks: their width stays area / length; saunet's is
            # read across its probability map (FWHM) on its own centrelines.
            row["mean_width_fwhm_px"] = (
                fwhm_width(res.prob, measured.graph.segments)
                if rater == "saunet"
                else row["mean_width_px"]
            )
            rows.append({"dataset": DATASETS[name], "image": f.name, "rater": rater,
                         **{m: row[m] for m in MEASURES}})  # fmt: skip
        print(f"  {f.name}: disc {'none' if disc is None else 'found'}", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict:
    """``{dataset: {measure: {"obs1_mean", "obs2": Agreement, "saunet": Agreement, ...}}}``."""
    from saunet.measure.agreement import agreement

    out: dict = {}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        by = {
            rater: {r["image"]: r for r in rows if r["dataset"] == ds and r["rater"] == rater}
            for rater in RATERS
        }
        images = sorted(by["obs1"])
        table = {}
        for m in MEASURES:
            ref = [by["obs1"][i][m] for i in images]
            entry: dict = {"obs1_mean": _mean(ref)}
            for rater in ("obs2", "saunet"):
                entry[rater] = asdict(agreement(ref, [by[rater][i][m] for i in images]))
            o2, sa = entry["obs2"]["rms_diff"], entry["saunet"]["rms_diff"]
            entry["ratio"] = sa / o2 if o2 and sa is not None else None
            entry["flag"] = entry["ratio"] is not None and entry["ratio"] > FLAG_RATIO
            table[m] = entry
        out[ds] = table
    return out


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def _g(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def markdown(summary: dict) -> str:
    lines = []
    for ds, table in summary.items():
        lines += [
            f"**{ds}** (test images; difference = rater - observer 1; LoA = 95% limits of "
            "agreement; ratio = RMS difference of saunet / of observer 2)",
            "",
            "| measure | obs1 mean | obs2: mean diff [LoA] | obs2 ICC | saunet: mean diff [LoA] "
            "| saunet ICC | ratio |",
            "|---|---:|---|---:|---|---:|---:|",
        ]
        for m, e in table.items():
            cells = []
            for rater in ("obs2", "saunet"):
                a = e[rater]
                cells.append(
                    f"{_g(a['mean_diff'])} [{_g(a['loa_low'])}, {_g(a['loa_high'])}]"
                    + (f" (n={a['n']})" if a["n"] != e["obs2"]["n"] or a["n"] < 8 else "")
                )
                cells.append(_g(a["icc"], 2))
            ratio = _g(e["ratio"], 2) + (" **> 1.5**" if e["flag"] else "")
            lines.append(f"| {m} | {_g(e['obs1_mean'])} | " + " | ".join(cells) + f" | {ratio} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", help="holds DRIVE/ and CHASEDB1/ (default: $SAUNET_DATA)")
    ap.add_argument("--out", default="results/measure-agreement", help="output folder")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = ap.parse_args(argv)
    root = Path(
        args.data_root
        or os.environ.get("SAUNET_DATA")
        or Path(__file__).parents[1] / "../shared/data"
    )
    if not (root / "DRIVE").is_dir():
        sys.exit(f"measure_agreement: no DRIVE under {root}; pass --data-root or set SAUNET_DATA")
    import torch

    from saunet.utils.device import describe_hardware
    from saunet.utils.files import atomic_write_text

    t0 = time.perf_counter()
    rows = []
    for name in args.datasets:
        print(f"{DATASETS[name]}:", flush=True)
        rows += measure_dataset(name, root)
    summary = summarise(rows)
    wall = time.perf_counter() - t0
    md = markdown(summary)
    out = Path(args.out)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["dataset", "image", "rater", *MEASURES])
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    atomic_write_text(out / "per_image.csv", buf.getvalue())
    hardware = describe_hardware(torch.device("cpu"))
    meta = {"hardware": hardware, "wall_s": round(wall, 1), "datasets": args.datasets}
    atomic_write_text(out / "agreement.json", json.dumps({**meta, "summary": summary}, indent=1))
    atomic_write_text(out / "agreement.md", md)
    print(md)
    print(f"{meta['hardware']}; {wall:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
