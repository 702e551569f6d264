"""Time-to-quality curve of a training run: test AUC / F1 (FOV protocol) vs CPU minutes.

Evaluates every periodic checkpoint a run kept (``train.save_every``) on the test split
and writes ``time_to_quality.csv`` and ``time_to_quality.png``.

Usage:
    python benchmarks/time_to_quality.py runs/drive-cpu --out results/drive-cpu
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from saunet.evaluation.pipeline import evaluate_checkpoint
from saunet.models.checkpoint import read_checkpoint
from saunet.utils.files import atomic_write, atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--every", type=int, default=1, help="use every N-th saved checkpoint")
    args = ap.parse_args()

    cfg = json.loads((args.run_dir / "last.json").read_text())["run_config"]
    dataset = cfg["data"]["dataset"]
    ckpts = sorted((args.run_dir / "checkpoints").glob("epoch*.safetensors"))[:: args.every]
    rows = []
    for ck in ckpts + [args.run_dir / "last.safetensors"]:
        _, meta = read_checkpoint(ck)
        doc = evaluate_checkpoint(ck, dataset, args.data_root, protocols=("paper", "fov"),
                                  write_probs=False, progress=False)  # fmt: skip
        r = {"epoch": meta["epoch"] + 1, "minutes": round(meta["elapsed_seconds"] / 60, 2)}
        for proto in ("fov", "paper"):
            pooled = doc["protocols"][proto]["pooled"]
            r[f"{proto}_auc"] = round(pooled["auc"], 4)
            r[f"{proto}_f1"] = round(pooled["f1"], 4)
        rows.append(r)
        print(r, flush=True)

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(args.out / "time_to_quality.csv", buf.getvalue())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    m = [r["minutes"] for r in rows]
    for i, key in enumerate(("auc", "f1")):
        ax[i].plot(m, [r[f"fov_{key}"] for r in rows], "o-", label="inside FOV")
        ax[i].plot(m, [r[f"paper_{key}"] for r in rows], "s--", label="whole image (paper)")
        ax[i].set_xlabel("training wall time (minutes)")
        ax[i].set_ylabel(f"test {key.upper()} (threshold 0.5)" if key == "f1" else "test AUC")
        ax[i].grid(alpha=0.3)
        ax[i].legend()
    fig.suptitle(f"{args.run_dir.name}: {dataset} test split vs training time")
    fig.tight_layout()
    atomic_write(args.out / "time_to_quality.png", lambda t: fig.savefig(t, format="png", dpi=100))


if __name__ == "__main__":
    main()
