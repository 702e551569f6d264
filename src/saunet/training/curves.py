"""Training-curve figure like the paper's Fig. 2 (loss and validation metrics per epoch)."""

from __future__ import annotations

import csv
from pathlib import Path

from saunet.utils.files import atomic_write


def read_log(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [
            {k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def plot_curves(log_csv: Path, out_png: Path, title: str = "") -> Path:
    """Two panels: train/validation loss, and validation ACC/AUC/F1, against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_csv)
    ep = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [r["train_loss"] for r in rows], label="train loss")
    a.plot(ep, [r["val_loss"] for r in rows], label="validation loss")
    a.set_xlabel("epoch")
    a.set_ylabel("binary cross-entropy")
    a.legend()
    for key in ("val_acc", "val_auc", "val_f1"):
        b.plot(
            ep,
            [r[key] for r in rows],
            label=key.replace("val_", "validation ").upper().replace("VALIDATION", "validation"),
        )
    b.set_xlabel("epoch")
    b.set_ylabel("validation metric (inside FOV, threshold 0.5)")
    b.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(out_png, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return out_png
