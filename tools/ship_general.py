"""Ship a run trained on several cameras (``configs/general.yaml``) as weights.

``tools/ship_weights.py`` ships a run of one dataset, judged against that dataset's test
split and the paper. A multi-camera run has no single test split, so this tool does only
what shipping needs and leaves the evidence to ``benchmarks/robustness.py``:

- the segmentation threshold: the one maximising pooled F1 inside the FOV on the run's
  held-out validation photographs (2 per dataset), each segmented at its native size
  through the path of ``saunet segment`` (resolution policy included), never on a test image;
- ``src/saunet/weights/sa-unet-<name>.safetensors``: the run's ``best.safetensors`` tensors
  with its metadata, the threshold and the training command;
- ``results/<name>/``: the run's summaries (config, log, curves, ``run.json``).

The model card is written by hand from the robustness table.

Usage:
    python tools/ship_general.py runs/general --name general --data-root ../shared/data \
        --command "saunet train --config configs/general.yaml --out runs/general"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ship_weights import BOOKKEEPING, REPO, WEIGHTS

from saunet.data.datasets import load_dataset
from saunet.evaluation.metrics import best_f1_threshold
from saunet.inference.segmenter import Segmenter
from saunet.models.checkpoint import read_checkpoint, save_checkpoint
from saunet.reporting.collect import collect_run


def validation_threshold(
    run_dir: Path, meta: dict, data_root: str | None, calibre_factor: float = 1.0
) -> tuple[float, float]:
    """Best pooled FOV F1 threshold on the run's held-out photographs, and that F1, each
    photograph segmented with the shipped resolution policy (``calibre_factor``)."""
    names = set(meta["data"]["val"])
    datasets = meta["run_config"]["data"]["dataset"].split("+")
    samples = [
        s for d in datasets for s in load_dataset(d, data_root, "train") if s["name"] in names
    ]
    if len(samples) != len(names):
        raise SystemExit(f"{run_dir}: found {len(samples)} of the {len(names)} validation images")
    seg = Segmenter.from_weights(str(run_dir / "best.safetensors"), device="cpu", precision="fp32")
    seg.meta = {**seg.meta, "scale": {**seg.meta["scale"], "calibre_factor": calibre_factor}}
    probs, labels = [], []
    for s in samples:
        prob = seg.segment(s["image"], fov=s["fov"]).prob
        probs.append(prob[s["fov"]])
        labels.append(s["label"][s["fov"]])
    return best_f1_threshold(probs, labels)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--name", default="general")
    ap.add_argument("--command", required=True, help="the exact training command")
    ap.add_argument("--data-root", default=None)
    ap.add_argument(
        "--calibre-factor",
        type=float,
        default=1.0,
        help="scale.calibre_factor to ship, chosen on training photographs with "
        "benchmarks/robustness.py --split train --gains (default 1)",
    )
    args = ap.parse_args()

    tensors, meta = read_checkpoint(args.run_dir / "best.safetensors")
    last = read_checkpoint(args.run_dir / "last.safetensors")[1]
    if "scale" not in meta:
        raise SystemExit(
            f"{args.run_dir}: no training scale in the checkpoint (data.px_per_degree)"
        )
    threshold, f1 = validation_threshold(args.run_dir, meta, args.data_root, args.calibre_factor)
    print(f"threshold {threshold:.4f} (validation FOV F1 {f1:.4f})")
    meta = {
        **{k: v for k, v in meta.items() if k not in BOOKKEEPING},
        "epoch": last["epoch"],  # epochs trained; best_epoch is the one shipped
        "elapsed_seconds": last["elapsed_seconds"],
        "threshold": {"fov": round(threshold, 4)},
        "threshold_source": "val-f1",
        "validation_f1": round(f1, 4),
        "scale": {**meta["scale"], "calibre_factor": args.calibre_factor},
        "training_command": args.command,
    }
    target = WEIGHTS / f"sa-unet-{args.name}.safetensors"
    save_checkpoint(target, tensors, meta, sidecar=False)
    res = collect_run(
        args.run_dir, REPO / "results", label="cpu", dest=REPO / "results" / args.name
    )
    print(f"shipped {target}; summaries in {res}; write its card {target.with_suffix('.md')}")


if __name__ == "__main__":
    main()
