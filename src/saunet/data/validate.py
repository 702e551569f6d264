"""Checking a data root before any work, and summarising it (``saunet data check``).

The check runs in the same order as :func:`saunet.data.datasets.load_dataset`: list the
files (a missing folder or counterpart is an error), compare sizes from the file headers,
then decode every file one at a time (a corrupt file is an error) to compute the summary.
Only one sample is in memory at a time. Every problem is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from saunet.data.datasets import check_files, list_files, read_sample

__all__ = ["check_dataset", "format_summary", "SPLITS_OF"]

#: The splits ``check_dataset`` summarises for each dataset.
SPLITS_OF = {"drive": ("train", "test"), "chase": ("train", "test"), "folder": ("all",)}


def _split_summary(name: str, root: Any, split: str, folder: dict | None) -> dict[str, Any]:
    files = list_files(name, root, split, folder=folder)
    sizes = check_files(files)
    pos = pos_fov = fov_px = total = 0
    second = estimated = 0
    for f in files:
        s = read_sample(f)
        label, fov = s["label"], s["fov"]
        pos += int(np.count_nonzero(label))
        pos_fov += int(np.count_nonzero(label & fov))
        fov_px += int(np.count_nonzero(fov))
        total += label.size
        second += "second_label" in s
        estimated += s["fov_source"] == "estimated"
    size_counts: dict[tuple[int, int], int] = {}
    for hw in sizes:
        size_counts[hw] = size_counts.get(hw, 0) + 1
    return {
        "count": len(files),
        "names": [f.name for f in files],
        "sizes": size_counts,
        "positive_fraction": pos / total if total else 0.0,
        "positive_fraction_fov": pos_fov / fov_px if fov_px else 0.0,
        "fov_coverage": fov_px / total if total else 0.0,
        "fov_estimated": estimated,
        "second_label": second,
    }


def check_dataset(
    name: str, root: str | os.PathLike | None, *, folder: dict | None = None
) -> dict[str, Any]:
    """Validate a dataset and summarise each split.

    Returns:
        ``{"dataset": name, "splits": {split: summary}}`` where a summary holds ``count``,
        ``names``, ``sizes`` (``{(H, W): n}``), ``positive_fraction`` (label pixels / all
        pixels), ``positive_fraction_fov`` (inside the FOV), ``fov_coverage`` (FOV pixels /
        all pixels), ``fov_estimated`` (images whose FOV was estimated) and
        ``second_label`` (images with a second-observer label).

    Raises:
        DataError: a missing or empty folder, a missing counterpart, an unreadable or corrupt
            file, or a size mismatch between image, label and mask, naming the file.
    """
    splits = SPLITS_OF.get(name, ("all",))
    return {
        "dataset": name,
        "splits": {s: _split_summary(name, root, s, folder) for s in splits},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A short table of :func:`check_dataset`'s result, one line per split."""
    lines = [
        f"dataset {summary['dataset']}: OK",
        f"{'split':<6} {'images':>6}  {'size (HxW)':<16} {'positive':>8} {'pos|FOV':>8} "
        f"{'FOV cover':>9}  notes",
    ]
    for split, s in summary["splits"].items():
        sizes = ", ".join(
            f"{h}x{w}" + (f" ({n})" if len(s["sizes"]) > 1 else "")
            for (h, w), n in s["sizes"].items()
        )
        notes = []
        if s["fov_estimated"]:
            notes.append(f"FOV estimated for {s['fov_estimated']}")
        if s["second_label"]:
            notes.append(f"2nd observer for {s['second_label']}")
        line = (
            f"{split:<6} {s['count']:>6}  {sizes:<16} {100 * s['positive_fraction']:>7.2f}% "
            f"{100 * s['positive_fraction_fov']:>7.2f}% {100 * s['fov_coverage']:>8.2f}%  "
            + "; ".join(notes)
        )
        lines.append(line.rstrip())
    return "\n".join(lines)
