"""Files of an evaluation run: metrics.json, per_image.csv, table.md, curves, probability maps.

``table.md`` is shaped like the paper's Tables II/III (ablation, DRIVE/CHASE_DB1) and
V/VI (comparison): SE, SP, ACC, AUC, F1, MCC, with the paper's SA-UNet row beside ours
and a "2nd observer" row computed under the same protocol. Every heading, column and row
states the protocol it was measured under.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saunet.inference.encode import write_prob_map
from saunet.paper import DATASET_TITLE, MODEL_ROW, PAPER_RESULTS, PAPER_TABLE_WITH_COMPARISON
from saunet.utils.files import atomic_write, atomic_write_text

__all__ = ["TABLE_METRICS", "render_table", "write_report", "to_json"]

log = logging.getLogger(__name__)

TABLE_METRICS = ("se", "sp", "acc", "auc", "f1", "mcc")
EXTRA_METRICS = ("precision", "iou", "auc_pr", "cldice")
CSV_METRICS = TABLE_METRICS + EXTRA_METRICS
_HEAD = {"se": "SE", "sp": "SP", "acc": "ACC", "auc": "AUC", "f1": "F1", "mcc": "MCC",
         "precision": "Precision", "iou": "IoU", "auc_pr": "AUC-PR", "cldice": "clDice"}  # fmt: skip


def _clean(x: Any) -> Any:
    """NaN/inf -> None so metrics.json is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(_clean(doc), indent=2, sort_keys=False, allow_nan=False)


def _fmt(v: Any) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4f}"


def _ours_label(doc: dict[str, Any]) -> str:
    if doc.get("source") == "checkpoint":
        ck = doc["checkpoint"]
        name = (ck.get("meta") or {}).get("model_config", {}).get("name", "model")
        return f"ours: {name} ({Path(ck['path']).name})"
    return f"external maps ({Path(str(doc.get('prob_dir', 'maps'))).name})"


def _paper_rows(doc: dict[str, Any], dataset: str) -> list[str]:
    rows = PAPER_RESULTS.get(dataset, {})
    if not rows:
        return []
    names = ["SA-UNet"]
    model = ((doc.get("checkpoint") or {}).get("meta") or {}).get("model_config", {}).get("name")
    if MODEL_ROW.get(model) and MODEL_ROW[model] != "SA-UNet":
        names.insert(0, MODEL_ROW[model])
    return names


def render_table(doc: dict[str, Any]) -> str:
    """Markdown tables (one per protocol) like the paper's Tables II/V, plus extra metrics."""
    data = doc.get("data", {})
    dataset = str(data.get("dataset", "")).lower()
    title = DATASET_TITLE.get(dataset, dataset or "dataset")
    lines: list[str] = []
    second = doc.get("second_observer") or {}
    for protocol, res in doc["protocols"].items():
        thr = res["threshold"]
        lines += [
            f"### {title} {data.get('split', 'test')} ({res['n_images']} images) — protocol "
            f"`{protocol}`: {res['description']}; threshold {thr:.4g} (prob >= threshold)",
            "",
            f"| Method [protocol `{protocol}`] | "
            + " | ".join(_HEAD[m] for m in TABLE_METRICS)
            + " |",
            "|---" * (len(TABLE_METRICS) + 1) + "|",
        ]
        for row in _paper_rows(doc, dataset):
            vals = PAPER_RESULTS[dataset][row]
            note = "" if protocol == "paper" else "; whole image, not this protocol"
            lines.append(
                f"| {row} (paper, {PAPER_TABLE_WITH_COMPARISON[dataset]}{note}) | "
                + " | ".join(f"{v:.4f}" for v in vals)
                + " |"
            )
        pooled = res["pooled"]
        lines.append(
            f"| {_ours_label(doc)} | " + " | ".join(_fmt(pooled[m]) for m in TABLE_METRICS) + " |"
        )
        so = second.get(protocol)
        if so:
            p = so["pooled"]
            cells = [_fmt(p[m]) + ("†" if m == "auc" else "") for m in TABLE_METRICS]
            lines.append("| 2nd observer | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"| Method [protocol `{protocol}`] | "
            + " | ".join(_HEAD[m] for m in EXTRA_METRICS)
            + " |",
            "|---" * (len(EXTRA_METRICS) + 1) + "|",
            f"| {_ours_label(doc)} | " + " | ".join(_fmt(pooled[m]) for m in EXTRA_METRICS) + " |",
        ]
        if so:
            lines.append(
                "| 2nd observer | "
                + " | ".join(_fmt(so["pooled"][m]) for m in EXTRA_METRICS)
                + " |"
            )
        lines.append("")
    lines.append(
        "SE..MCC, precision and IoU from counts pooled over all images; AUC and AUC-PR from all "
        "pooled pixels; clDice is the mean over images."
    )
    if second:
        lines.append(
            "† The 2nd observer's map is binary: its AUC is the ROC area through its single "
            "operating point, (SE + SP) / 2."
        )
    return "\n".join(lines) + "\n"


def _per_image_csv(doc: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["protocol", "threshold", "name", *CSV_METRICS, "tp", "fp", "fn", "tn"])
    for protocol, res in doc["protocols"].items():
        for m in res["per_image"]:
            c = m["counts"]
            vals = [
                "" if m[k] is None or not math.isfinite(m[k]) else f"{m[k]:.6f}"
                for k in CSV_METRICS
            ]
            w.writerow(
                [
                    protocol,
                    f"{res['threshold']:.6g}",
                    m["name"],
                    *vals,
                    c["tp"],
                    c["fp"],
                    c["fn"],
                    c["tn"],
                ]
            )
    return buf.getvalue()


def _plot_curves(doc: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    second = doc.get("second_observer") or {}
    for kind, (xk, yk), (xl, yl) in (
        ("roc", ("fpr", "tpr"), ("false positive rate (1 - SP)", "true positive rate (SE)")),
        ("pr", ("recall", "precision"), ("recall (SE)", "precision")),
    ):
        fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
        for protocol, res in doc["protocols"].items():
            curve = (res.get("curves") or {}).get(kind)
            if not curve:
                continue
            area = res["pooled"]["auc" if kind == "roc" else "auc_pr"]
            ax.plot(curve[xk], curve[yk], label=f"protocol {protocol} (area {_fmt(area)})")
            so = second.get(protocol)
            if so:
                p = so["pooled"]
                x, y = (1 - p["sp"], p["se"]) if kind == "roc" else (p["se"], p["precision"])
                ax.plot([x], [y], "o", label=f"2nd observer, protocol {protocol}")
        ax.set(xlabel=xl, ylabel=yl, xlim=(0, 1), ylim=(0, 1.01), title=f"{kind.upper()} curve")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
        fig.tight_layout()
        atomic_write(out / f"{kind}.png", lambda tmp, fig=fig: fig.savefig(tmp, format="png"))
        plt.close(fig)


def write_report(
    doc: dict[str, Any],
    out: Path,
    *,
    probs: Sequence[np.ndarray] | None = None,
    samples: Sequence[dict] | None = None,
) -> None:
    """Write ``metrics.json``, ``per_image.csv``, ``table.md``, ``roc.png``, ``pr.png`` and,
    with ``probs``, ``probs/<name>.png`` (lossless 16-bit, ``round(p * 65535)``; any image
    library reads it back within 7.7e-6 of ``p``) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", to_json(doc) + "\n")
    atomic_write_text(out / "per_image.csv", _per_image_csv(doc))
    atomic_write_text(out / "table.md", render_table(doc))
    _plot_curves(doc, out)
    if probs is not None and samples is not None:
        for prob, s in zip(probs, samples, strict=True):
            write_prob_map(out / "probs" / f"{s['name']}.png", prob, "png16")
    log.info("wrote evaluation report to %s", out)
