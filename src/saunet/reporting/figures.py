"""Figures of REPORT.md, written to ``results/figures/``.

* ``curves-<label>-<dataset>.png``: training curves of every model (like the paper's Fig. 2),
  from the collected ``log.csv`` files; always regenerated.
* ``fig5-<label>-drive-<k>.png``: one DRIVE test image segmented by every model next
  to the ground truth (like Fig. 5).
* ``examples-<label>-<dataset>-<k>.png``: U-Net, Backbone and SA-UNet on one test image
  of each dataset (like Figs. 6/7), with a zoomed crop where thin vessels differ.

``<k>`` is the image's position in :data:`saunet.reporting.collect.FIGURE_IMAGES`
(:func:`saunet.reporting.collect.figure_file`), not the dataset's file name.

The last two need the fundus image and ground truth from the data root; without one the
existing files are kept. PNGs carry no software version or date, so they are a function
of their inputs (on one matplotlib version).
"""

from __future__ import annotations

import logging
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from saunet.data.datasets import list_files, read_sample
from saunet.errors import UserError
from saunet.evaluation.pipeline import read_prob_map
from saunet.paper import DATASET_TITLE
from saunet.reporting.collect import figure_file, figure_map_path
from saunet.reporting.results import Results, Run, row_name
from saunet.utils.files import atomic_write

log = logging.getLogger(__name__)

_EXAMPLE_MODELS = ("unet18", "backbone", "sa-unet")  # the paper's Figs. 6/7
_TP, _FP, _FN = (255, 255, 255), (255, 150, 0), (30, 140, 255)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path, dpi: int = 100) -> Path:

    atomic_write(
        path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    )
    _pyplot().close(fig)
    return path


def suptitle(fig: Any, text: str, fontsize: float = 12) -> Any:
    """Set ``text`` as ``fig``'s title, wrapped at spaces until it fits the figure's width.

    matplotlib centres a title wider than the figure and cuts it at both sides; this measures
    the drawn title (display pixels) and narrows the wrap width (characters per line) by a
    tenth at a time until it fits within 98% of the figure. Explicit newlines are kept.
    Returns the title ``Text``.
    """
    renderer = fig.canvas.get_renderer()
    room = 0.98 * fig.get_window_extent(renderer).width
    lines = text.splitlines() or [""]
    chars = max(len(line) for line in lines)
    while True:
        wrapped = "\n".join(textwrap.fill(line, max(1, chars)) for line in lines)
        title = fig.suptitle(wrapped, fontsize=fontsize)
        if chars <= 10 or title.get_window_extent(renderer).width <= room:
            return title
        chars -= max(1, chars // 10)


def _first_seed(seeds: dict[int, Run]) -> Run:
    return seeds[min(seeds)]


def curves_figure(results: Results, label: str, dataset: str, out_dir: Path) -> Path | None:
    """Training loss, validation loss, validation AUC and F1 per epoch of every model."""
    models = {m: _first_seed(s) for m, s in results[label][dataset].items() if s}
    models = {m: r for m, r in models.items() if r.log_rows}
    if not models:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    panels = (("train_loss", "training loss (BCE)"), ("val_loss", "validation loss (BCE)"),
              ("val_auc", "validation AUC (FOV)"), ("val_f1", "validation F1 (FOV, 0.5)"))  # fmt: skip
    for ax, (key, name) in zip(axes, panels, strict=True):
        for model, run in models.items():
            pts = [
                (r["epoch"], r[key]) for r in run.log_rows if math.isfinite(r.get(key, math.nan))
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), label=row_name(model), lw=1.2)
        ax.set(xlabel="epoch", title=name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    seed = min(min(s) for s in results[label][dataset].values() if s)
    suptitle(fig, f"{DATASET_TITLE.get(dataset, dataset)}: training curves, recipe {label} "
                  f"(seed {seed})")  # fmt: skip
    fig.tight_layout()
    return _save(fig, out_dir / f"curves-{label}-{dataset}.png")


def load_sample(dataset: str, data_root: Any, name: str) -> dict[str, Any] | None:
    """One test sample (image, label, fov) from the data root, or None if unavailable."""

    try:
        for f in list_files(dataset, data_root, "test"):
            if f.name == name:
                return read_sample(f)
    except (UserError, OSError, ValueError) as exc:
        log.warning("figures for %s %s skipped: %s", dataset, name, exc)
        return None
    log.warning("figures: %s has no test image %s", dataset, name)
    return None


def _binary_map(run: Run, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The run's prediction for ``name`` at threshold 0.5 (:func:`saunet.reporting.collect.figure_map_path`)."""

    path = figure_map_path(run.path, run.dataset, name)
    if not path.is_file():
        return None
    try:
        prob = read_prob_map(path)
    except Exception as exc:  # a damaged file must not stop the report
        log.warning("%s: unreadable probability map (%s)", path, exc)
        return None
    return prob >= 0.5 if prob.shape == tuple(shape) else None


def _maps(
    results: Results, label: str, dataset: str, name: str, shape: tuple[int, ...], models: Any
) -> dict[str, np.ndarray]:
    seeds = results[label][dataset]
    out = {}
    for m in models:
        if seeds.get(m):
            pred = _binary_map(_first_seed(seeds[m]), name, shape)
            if pred is not None:
                out[m] = pred
    return out


def fig5_panel(
    results: Results, label: str, data_root: Any, out_dir: Path, name: str = "01_test"
) -> Path | None:
    """DRIVE ``name`` segmented by every model (threshold 0.5) next to the ground truth."""
    if "drive" not in results.get(label, {}):
        return None
    sample = load_sample("drive", data_root, name)
    if sample is None:
        return None
    gt = np.asarray(sample["label"], bool)
    maps = _maps(results, label, "drive", name, gt.shape, results[label]["drive"])
    if not maps:
        return None
    panels = [("(a) test image", sample["image"])]
    panels += [(f"({chr(98 + i)}) {row_name(m)}", p) for i, (m, p) in enumerate(maps.items())]
    panels.append((f"({chr(98 + len(maps))}) ground truth", gt))
    plt = _pyplot()
    cols = math.ceil(len(panels) / 2)
    fig, axes = plt.subplots(2, cols, figsize=(3.4 * cols, 7.2))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
    suptitle(fig, f"DRIVE {name}, recipe {label} (threshold 0.5)")
    fig.tight_layout()
    return _save(fig, out_dir / figure_file("fig5", label, "drive", name))


def thin_vessels(gt: np.ndarray) -> np.ndarray:
    """Vessel pixels a 3x3 opening removes: vessels at most ~2 pixels wide."""
    from scipy import ndimage

    return gt & ~ndimage.binary_opening(gt, structure=np.ones((3, 3), bool))


def choose_crop(gt: np.ndarray, preds: list[np.ndarray], size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` window with the most disagreement between the first
    and last prediction near thin ground-truth vessels (ties: first in raster order)."""
    from scipy import ndimage

    thin = thin_vessels(gt)
    score = thin
    if len(preds) >= 2:
        near = ndimage.binary_dilation(thin, iterations=2)
        diff = (preds[0] ^ preds[-1]) & near
        score = diff if diff.any() else thin
    s = np.pad(score.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    win = s[size:, size:] - s[:-size, size:] - s[size:, :-size] + s[:-size, :-size]
    y, x = np.unravel_index(int(np.argmax(win)), win.shape)
    return int(y), int(x)


def error_colours(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB uint8: white = vessel found, orange = false vessel, blue = missed vessel."""
    rgb = np.zeros((*gt.shape, 3), np.uint8)
    rgb[pred & gt], rgb[pred & ~gt], rgb[~pred & gt] = _TP, _FP, _FN
    return rgb


def examples_figure(
    results: Results, label: str, dataset: str, name: str, data_root: Any, out_dir: Path
) -> Path | None:
    """Image, ground truth, U-Net / Backbone / SA-UNet, and a zoomed crop of each."""
    if dataset not in results.get(label, {}):
        return None
    sample = load_sample(dataset, data_root, name)
    if sample is None:
        return None
    gt = np.asarray(sample["label"], bool)
    maps = _maps(results, label, dataset, name, gt.shape, _EXAMPLE_MODELS)
    if not maps:
        return None
    size = min(min(gt.shape), max(48, min(gt.shape) // 6))
    y, x = choose_crop(gt, list(maps.values()), size)
    crop = (slice(y, y + size), slice(x, x + size))
    cols = [("image", sample["image"], sample["image"][crop]), ("ground truth", gt, gt[crop])]
    cols += [(row_name(m), p, error_colours(p[crop], gt[crop])) for m, p in maps.items()]
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(2, len(cols), figsize=(3.2 * len(cols), 6.6), squeeze=False)
    for j, (title, full, zoom) in enumerate(cols):
        for i, img in enumerate((full, zoom)):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1,
                      interpolation="nearest" if i else "antialiased")  # fmt: skip
            ax.axis("off")
        axes[0, j].add_patch(Rectangle((x, y), size, size, fill=False, ec="yellow", lw=1.2))
        axes[0, j].set_title(title, fontsize=10)
    where = f"{DATASET_TITLE.get(dataset, dataset)} {name}, recipe {label}, threshold 0.5"
    zoom = f"bottom: {size}x{size} zoom at x={x}, y={y}"
    suptitle(fig, f"{where}\n{zoom} (white found, orange false, blue missed vessel)")
    fig.tight_layout()
    return _save(fig, out_dir / figure_file("examples", label, dataset, name))
