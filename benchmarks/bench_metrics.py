"""Time the exact AUC (and AUC-PR, best-F1 threshold) on 6.6 M pixels, the DRIVE test set.

Target: the 20 DRIVE test images (20 x 584 x 565 = 6.6 M pixels) in under 1 s.
Uses the real DRIVE labels with a blurred, noisy "prediction" when the data root exists
($SAUNET_DATA or ../shared/data), else synthetic labels of the same size.

    .venv/bin/python benchmarks/bench_metrics.py [--repeat 5] [--sklearn]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from saunet.evaluation import metrics as M


def drive_like() -> tuple[np.ndarray, np.ndarray, str]:
    root = Path(
        os.environ.get("SAUNET_DATA")
        or Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    rng = np.random.default_rng(0)
    gt = root / "DRIVE" / "test" / "1st_manual"
    if gt.is_dir():
        from scipy.ndimage import gaussian_filter

        from saunet.data.io import read_mask

        labels = np.stack([read_mask(gt / f"{i:02d}_manual1.gif") for i in range(1, 21)])
        probs = gaussian_filter(labels.astype(np.float32), (0, 1.5, 1.5)) + rng.normal(
            0, 0.2, labels.shape
        )
        return np.clip(probs, 0, 1).astype(np.float32), labels, "DRIVE test labels, blurred + noise"
    labels = rng.random((20, 584, 565)) < 0.12
    probs = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0, 1).astype(np.float32)
    return probs, labels, "synthetic"


def timed(fn, *args, repeat: int) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, value


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sklearn", action="store_true", help="also time scikit-learn (slow)")
    args = ap.parse_args()
    probs, labels, what = drive_like()
    q8 = np.round(probs * 255).astype(np.uint8)
    print(f"{probs.size:,} pixels ({what}); best of {args.repeat}")
    for name, fn, s in (
        ("roc_auc float32", M.roc_auc, probs),
        ("roc_auc uint8 (8-bit PNG maps, ties)", M.roc_auc, q8),
        ("average_precision float32", M.average_precision, probs),
        ("best_f1_threshold float32", lambda a, b: M.best_f1_threshold(a, b)[1], probs),
    ):
        t, v = timed(fn, s, labels, repeat=args.repeat)
        print(f"  {name:40s} {t * 1000:8.1f} ms   value {v:.6f}")
    if args.sklearn:
        from sklearn.metrics import average_precision_score, roc_auc_score

        y, s = labels.ravel(), probs.ravel()
        for name, fn in (
            ("sklearn roc_auc_score", roc_auc_score),
            ("sklearn average_precision", average_precision_score),
        ):
            t, v = timed(fn, y, s, repeat=1)
            print(f"  {name:40s} {t * 1000:8.1f} ms   value {v:.6f}")


if __name__ == "__main__":
    main()
