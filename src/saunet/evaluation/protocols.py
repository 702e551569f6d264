"""Evaluation under stated protocols (paper Sec. III-B, Tables II, III, V, VI).

Two protocols, and every number this module produces is keyed by one of them:

``paper``
    The authors' evaluation: the whole image after cropping the padding away, all pixels
    of all test images pooled, threshold 0.5 (as in the authors' released evaluation code).
``fov``
    The convention of most of the field: only pixels inside the field-of-view mask.

Binary predictions are ``prob >= threshold``. Threshold policies: ``fixed`` (0.5, paper)
or ``val-f1``: the threshold maximising pooled F1 on a *validation* set, chosen per
protocol; the API takes the validation maps as an argument and never looks at the test
split for it.

Result layout (``evaluate_maps``)::

    {"paper": {"protocol": ..., "description": ..., "threshold": 0.5, "n_images": 20,
               "pooled": {"se", "sp", "acc", "auc", "f1", "mcc", "precision", "iou",
                          "auc_pr", "cldice", "counts": {tp, fp, fn, tn}},
               "per_image": [{"name", <same metrics>}, ...],
               "curves": {"roc": {"fpr", "tpr"}, "pr": {"recall", "precision"}}},
     "fov": {...}}

Pooled SE..MCC come from the summed counts, pooled AUC/AUC-PR from all pooled pixels;
pooled ``cldice`` is the mean of the per-image values. The pipelines that predict or read
maps and write reports (:func:`evaluate_checkpoint`, :func:`evaluate_prob_dir`) live in
:mod:`saunet.evaluation.pipeline`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saunet.errors import DataError, UserError
from saunet.evaluation import metrics as M

__all__ = [
    "PROTOCOLS",
    "THRESHOLD_POLICIES",
    "evaluate_maps",
    "second_observer_metrics",
    "select_threshold",
    "load_results",
]


log = logging.getLogger(__name__)

PROTOCOLS: dict[str, str] = {
    "paper": "whole image after crop-back, all pixels of all images pooled (authors' protocol)",
    "fov": "pixels inside the FOV mask only, pooled over all images",
}
THRESHOLD_POLICIES = ("fixed", "val-f1")
CURVE_POINTS = 200


def _check_protocols(protocols: Iterable[str]) -> tuple[str, ...]:
    protocols = tuple(protocols)
    for p in protocols:
        if p not in PROTOCOLS:
            raise UserError(f"unknown protocol {p!r}; choose from {', '.join(PROTOCOLS)}")
    if not protocols:
        raise UserError("no protocol given")
    return protocols


def _region(sample: dict, protocol: str) -> np.ndarray | None:
    """Pixels a protocol counts: None for the whole image, else the FOV mask."""
    if protocol == "paper":
        return None
    fov = sample.get("fov")
    if fov is None:
        raise DataError(f"{sample.get('name', '?')}: no FOV mask, cannot use protocol 'fov'")
    return np.asarray(fov, dtype=bool)


def _select(a: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    return a.ravel() if region is None else a[region]


def _image_metrics(
    prob: np.ndarray, label: np.ndarray, region: np.ndarray | None, threshold: float
) -> tuple[dict[str, Any], M.Counts]:
    pred = prob >= threshold
    counts = M.confusion_counts(pred, label, region)
    scores, truth = _select(prob, region), _select(label, region)
    if region is None:
        cl = M.cldice(pred, label)
    else:
        cl = M.cldice(pred & region, label & region)
    out: dict[str, Any] = M.binary_metrics(counts)
    out.update(
        auc=M.roc_auc(scores, truth),
        auc_pr=M.average_precision(scores, truth),
        cldice=cl,
        counts=counts.to_dict(),
    )
    return out, counts


def _check_pair(prob: np.ndarray, sample: dict) -> tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob)
    label = np.asarray(sample["label"], dtype=bool)
    if prob.shape != label.shape:
        raise DataError(
            f"{sample.get('name', '?')}: probability map {prob.shape} does not match label {label.shape}"
        )
    return prob, label


def _thresholds_for(
    threshold: float | dict[str, float], protocols: Sequence[str]
) -> dict[str, float]:
    if isinstance(threshold, dict):
        missing = [p for p in protocols if p not in threshold]
        if missing:
            raise ValueError(f"no threshold for protocol(s) {missing}")
        return {p: float(threshold[p]) for p in protocols}
    return {p: float(threshold) for p in protocols}


def evaluate_maps(
    probs: Sequence[np.ndarray],
    samples: Sequence[dict],
    *,
    protocols: Iterable[str] = ("paper", "fov"),
    threshold: float | dict[str, float] = 0.5,
    curves: bool = True,
    what: str = "maps",
) -> dict[str, dict[str, Any]]:
    """Metrics of probability maps against the samples' labels, per protocol.

    Args:
        probs: one ``(H, W)`` map per sample, values in [0, 1] (or 0/1 for a binary map).
        samples: dataset samples (``"label"``, ``"fov"``, ``"name"``), same order.
        protocols: subset of :data:`PROTOCOLS`.
        threshold: one threshold, or one per protocol (``{"paper": .5, "fov": .48}``).
        curves: include downsampled pooled ROC and PR curves.
        what: what the maps are, for the log line.

    Returns the layout in the module docstring.
    """
    protocols = _check_protocols(protocols)
    if len(probs) != len(samples) or not samples:
        raise ValueError(f"{len(probs)} probability maps for {len(samples)} samples")
    thresholds = _thresholds_for(threshold, protocols)
    out: dict[str, dict[str, Any]] = {}
    for protocol in protocols:
        thr = thresholds[protocol]
        per_image, all_counts, scores, truths = [], [], [], []
        for prob, sample in zip(probs, samples, strict=True):
            prob, label = _check_pair(prob, sample)
            region = _region(sample, protocol)
            m, c = _image_metrics(prob, label, region, thr)
            per_image.append({"name": str(sample.get("name", len(per_image))), **m})
            all_counts.append(c)
            scores.append(_select(prob, region))
            truths.append(_select(label, region))
        pooled_counts = M.Counts.sum(all_counts)
        s, t = np.concatenate(scores), np.concatenate(truths)
        pooled: dict[str, Any] = M.binary_metrics(pooled_counts)
        pooled.update(
            auc=M.roc_auc(s, t),
            auc_pr=M.average_precision(s, t),
            cldice=float(np.nanmean([m["cldice"] for m in per_image])),
            counts=pooled_counts.to_dict(),
        )
        entry: dict[str, Any] = {
            "protocol": protocol,
            "description": PROTOCOLS[protocol],
            "threshold": thr,
            "prediction_rule": "prob >= threshold",
            "n_images": len(samples),
            "n_pixels": pooled_counts.total,
            "pooled": pooled,
            "per_image": per_image,
        }
        if curves:
            fpr, tpr, _ = M.roc_curve(s, t, max_points=CURVE_POINTS)
            rec, prec, _ = M.pr_curve(s, t, max_points=CURVE_POINTS)
            entry["curves"] = {
                "roc": {"fpr": _round(fpr), "tpr": _round(tpr)},
                "pr": {"recall": _round(rec), "precision": _round(prec)},
            }
        out[protocol] = entry
        log.info(
            "%s, protocol %s (threshold %.4g): SE %.4f SP %.4f ACC %.4f AUC %.4f F1 %.4f MCC %.4f",
            what, protocol, thr, pooled["se"], pooled["sp"], pooled["acc"], pooled["auc"],
            pooled["f1"], pooled["mcc"],
        )  # fmt: skip
    return out


def _round(a: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in a]


def second_observer_metrics(
    samples: Sequence[dict], protocols: Iterable[str] = ("paper", "fov")
) -> dict[str, dict[str, Any]] | None:
    """The second human observer's binary maps scored against the first, per protocol.

    Same layout as :func:`evaluate_maps` (threshold 0.5 on the 0/1 map). A binary map has
    no ranking, so its ``auc`` is the ROC area through its one operating point,
    ``(SE + SP) / 2`` (balanced accuracy), and ``auc_pr`` is sklearn's average precision
    of the 0/1 map; tables mark these. Returns None if no sample has ``"second_label"``.
    """
    if not any(s.get("second_label") is not None for s in samples):
        return None
    missing = [s.get("name") for s in samples if s.get("second_label") is None]
    if missing:
        raise DataError(f"second observer missing for {missing}; cannot pool a partial set")
    maps = [np.asarray(s["second_label"], dtype=np.float32) for s in samples]
    out = evaluate_maps(
        maps, samples, protocols=protocols, threshold=0.5, curves=False, what="2nd observer"
    )
    for entry in out.values():
        entry["auc_note"] = "binary map: auc = (se + sp) / 2, the ROC area through one point"
    return out


def select_threshold(
    val_probs: Sequence[np.ndarray], val_samples: Sequence[dict], protocol: str
) -> tuple[float, float]:
    """``val-f1`` policy: ``(threshold, f1)`` maximising pooled F1 on validation maps.

    Pass validation (never test) maps; pixels are restricted as ``protocol`` says.
    """
    _check_protocols([protocol])
    scores, truths = [], []
    for prob, sample in zip(val_probs, val_samples, strict=True):
        prob, label = _check_pair(prob, sample)
        region = _region(sample, protocol)
        scores.append(_select(prob, region))
        truths.append(_select(label, region))
    thr, f = M.best_f1_threshold(scores, truths)
    log.info("val-f1 threshold for protocol %s: %.4f (validation F1 %.4f)", protocol, thr, f)
    return thr, f


def load_results(path_or_doc: str | os.PathLike | dict) -> dict[str, Any]:
    """A ``metrics.json`` document from a path, a directory holding one, or a dict."""
    if isinstance(path_or_doc, dict):
        return path_or_doc
    p = Path(path_or_doc)
    if p.is_dir():
        p = p / "metrics.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{p}: results file not found") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{p}: not a JSON results file ({exc})") from exc
