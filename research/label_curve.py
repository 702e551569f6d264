"""How many labelled photographs does a new camera need? A fine-tuning curve.

Treats one dataset as "a new camera": fine-tunes the other dataset's shipped weights on its
first N training photographs with ``configs/finetune.yaml`` (every image trains:
``data.validation=none``, the last moving average is kept), for each N, then evaluates on
the new camera's test split the way ``saunet segment`` predicts (``--inference segment``,
FOV masks given, threshold 0.5, protocol ``fov``). Reference lines: the unadapted weights
and the in-domain shipped weights, evaluated the same way.

Each fine-tune runs the real CLI (``saunet train``) in a subprocess on ``--threads``
threads for ``--minutes`` of wall clock. Writes ``OUT/curve.csv``, ``OUT/curve.md`` and
``OUT/curve.png``; run folders go to ``OUT/runs/`` (not meant for git).

Usage:
    python research/label_curve.py --data-root ../shared/data --out runs/label-curve \
        [--counts 1 2 5 10] [--minutes 4] [--threads 1] [--directions drive-to-chase chase-to-drive]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: direction -> (weights to adapt, new camera's dataset, its folder, file patterns)
DIRECTIONS = {
    "drive-to-chase": ("drive", "chase"),
    "chase-to-drive": ("chase", "drive"),
}


def training_folder(dataset: str, root: Path, n: int, dest: Path) -> dict[str, str]:
    """Symlinks to the first ``n`` training photographs of ``dataset`` (sorted by name),
    their 1st-observer labels and FOV masks, in one folder; returns ``data.folder``."""
    from saunet.data.datasets import list_files

    files = list_files(dataset, root, "train")[:n]
    if len(files) < n:
        raise SystemExit(f"{dataset} has only {len(files)} training images, asked for {n}")
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        # One folder, names the folder pairing rule understands.
        for src, name in ((f.image, f"{f.name}{f.image.suffix}"),
                          (f.label, f"{f.name}_label{f.label.suffix}"),
                          (f.fov, f"{f.name}_mask{f.fov.suffix}")):  # fmt: skip
            link = dest / name
            if not link.exists():
                link.symlink_to(Path(src).resolve())
    d = str(dest)
    return {"images": d, "labels": d, "masks": d, "names": [f.name for f in files]}


def fine_tune(weights: str, folder: dict, run_dir: Path, minutes: float, threads: int) -> dict:
    if (run_dir / "last.json").is_file():
        return json.loads((run_dir / "last.json").read_text())  # finished earlier
    cmd = [sys.executable, "-m", "saunet", "train", "--config", str(REPO / "configs/finetune.yaml"),
           "--out", str(run_dir), "--no-test-eval",
           f"data.folder.images={folder['images']}", f"data.folder.labels={folder['labels']}",
           f"data.folder.masks={folder['masks']}", "data.validation=none",
           f"train.init_weights={weights}", f"train.max_minutes={minutes}",
           f"train.threads={threads}"]  # fmt: skip
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "last.json").read_text())


def evaluate(weights: str, dataset: str, root: Path, threads: int) -> dict[str, float]:
    import torch

    from saunet.evaluation.pipeline import evaluate_checkpoint

    torch.set_num_threads(threads)
    doc = evaluate_checkpoint(weights, dataset, root, protocols=("fov",), inference="segment",
                              split="test", progress=False)  # fmt: skip
    pooled = doc["protocols"]["fov"]["pooled"]
    return {"fov_auc": pooled["auc"], "fov_f1": pooled["f1"]}


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("fov_auc", "fov_f1"), strict=True):
        for direction in sorted({r["direction"] for r in rows}):
            rs = [r for r in rows if r["direction"] == direction]
            curve = [r for r in rs if r["kind"] == "fine-tuned"]
            line = ax.plot([r["n_labelled"] for r in curve], [r[metric] for r in curve], "o-",
                           label=f"{direction}: fine-tuned")[0]  # fmt: skip
            for r, style in ((next(r for r in rs if r["kind"] == "unadapted"), ":"),
                             (next(r for r in rs if r["kind"] == "in-domain"), "--")):  # fmt: skip
                ax.axhline(r[metric], ls=style, color=line.get_color(),
                           label=f"{direction}: {r['kind']}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("labelled photographs of the new camera")
        ax.set_ylabel(metric.replace("_", " ").upper().replace("FOV ", "FOV "))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--directions", nargs="+", choices=tuple(DIRECTIONS), default=list(DIRECTIONS))
    args = ap.parse_args()

    rows: list[dict] = []
    for direction in args.directions:
        source, target = DIRECTIONS[direction]
        for kind, weights in (("unadapted", source), ("in-domain", target)):
            rows.append({"direction": direction, "kind": kind, "n_labelled": 0, "weights": weights,
                         "minutes": "", "epochs": "",
                         **evaluate(weights, target, args.data_root, args.threads)})  # fmt: skip
            print(rows[-1], flush=True)
        for n in args.counts:
            folder = training_folder(target, args.data_root, n, args.out / "data" / f"{target}-{n}")
            run = args.out / "runs" / f"{direction}-n{n}"
            t0 = time.perf_counter()
            last = fine_tune(source, folder, run, args.minutes, args.threads)
            rows.append({"direction": direction, "kind": "fine-tuned", "n_labelled": n,
                         "weights": str(run), "images": " ".join(folder["names"]),
                         "minutes": round(last.get("elapsed_seconds", 0) / 60, 2),
                         "epochs": last.get("epoch", ""), "wall_minutes": round((time.perf_counter() - t0) / 60, 2),
                         **evaluate(str(run), target, args.data_root, args.threads)})  # fmt: skip
            print(rows[-1], flush=True)
    fields = [
        "direction",
        "kind",
        "n_labelled",
        "fov_auc",
        "fov_f1",
        "minutes",
        "epochs",
        "weights",
        "images",
    ]
    with open(args.out / "curve.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    lines = ["| direction | weights | labelled photographs | FOV AUC | FOV F1 | fine-tune minutes |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['direction']} | {r['kind']} | {r['n_labelled'] or '-'} | "
                     f"{r['fov_auc']:.4f} | {r['fov_f1']:.4f} | {r['minutes'] or '-'} |")  # fmt: skip
    (args.out / "curve.md").write_text("\n".join(lines) + "\n")
    plot(rows, args.out / "curve.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
