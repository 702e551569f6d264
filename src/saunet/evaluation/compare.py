"""Paired comparison of two evaluated models on the same images (``saunet compare``).

Inputs are two ``metrics.json`` documents written by :mod:`saunet.evaluation.protocols`. Under one
protocol, for the images both evaluated (the name sets must be identical):

* per-image differences ``B - A`` of F1 and AUC, with their mean and median;
* the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided) on each;
* a seeded bootstrap 95% confidence interval (percentile method) of the difference in
  the *pooled* F1: images are resampled with replacement and F1 is recomputed from the
  summed per-image counts stored in the JSON, exactly as the pooled F1 is defined. Pooled
  AUC needs every pixel's score, which the JSON does not keep, so the AUC interval is that
  of the difference in the *mean per-image* AUC (stated in the result).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from saunet.errors import UserError
from saunet.evaluation.protocols import load_results

__all__ = ["compare_results", "format_comparison"]


def _per_image(doc: dict[str, Any], protocol: str, label: str) -> dict[str, dict[str, Any]]:
    protocols = doc.get("protocols") or {}
    if protocol not in protocols:
        raise UserError(
            f"{label}: no results under protocol {protocol!r} (has {', '.join(protocols) or 'none'})"
        )
    return {m["name"]: m for m in protocols[protocol]["per_image"]}


def _wilcoxon(d: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    d = d[np.isfinite(d)]
    if d.size == 0 or not np.any(d != 0):
        return 1.0  # no difference at all
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def _f1_from(counts: np.ndarray) -> np.ndarray:
    """Pooled F1 per bootstrap row; ``counts`` (..., 3) holding tp, fp, fn."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)


def compare_results(
    a_json: str | os.PathLike | dict,
    b_json: str | os.PathLike | dict,
    protocol: str = "fov",
    *,
    n_boot: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Compare results B against A (differences are ``B - A``) under ``protocol``.

    Raises :class:`UserError` if the two documents did not evaluate the same image names.
    Returns per-image differences, Wilcoxon p-values and bootstrap confidence intervals.
    """
    a_doc, b_doc = load_results(a_json), load_results(b_json)
    a, b = _per_image(a_doc, protocol, "A"), _per_image(b_doc, protocol, "B")
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise UserError(
            f"A and B evaluated different images (only in A: {only_a}; only in B: {only_b})"
        )
    names = sorted(a)
    da, db = (a_doc.get("data") or {}), (b_doc.get("data") or {})
    if (
        da.get("labels_sha256")
        and db.get("labels_sha256")
        and da["labels_sha256"] != db["labels_sha256"]
    ):
        raise UserError("A and B were evaluated against different labels (data identity differs)")

    def col(d: dict, key: str) -> np.ndarray:
        return np.array(
            [np.nan if d[n][key] is None else d[n][key] for n in names], dtype=np.float64
        )

    def counts(d: dict) -> np.ndarray:
        return np.array(
            [[d[n]["counts"][k] for k in ("tp", "fp", "fn")] for n in names], dtype=np.float64
        )

    ca, cb = counts(a), counts(b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(names), size=(n_boot, len(names)))
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    result: dict[str, Any] = {
        "protocol": protocol,
        "n_images": len(names),
        "names": names,
        "direction": "B - A",
        "a": {
            "threshold": a_doc["protocols"][protocol]["threshold"],
            "source": _source(a_doc, a_json),
        },
        "b": {
            "threshold": b_doc["protocols"][protocol]["threshold"],
            "source": _source(b_doc, b_json),
        },
        "bootstrap": {"n": n_boot, "seed": seed, "confidence": confidence, "method": "percentile"},
    }

    f1_a, f1_b = _f1_from(ca.sum(0)), _f1_from(cb.sum(0))
    boot_f1 = _f1_from(cb[idx].sum(1)) - _f1_from(ca[idx].sum(1))
    result["f1"] = _summary(col(a, "f1"), col(b, "f1"), names) | {
        "pooled_a": float(f1_a),
        "pooled_b": float(f1_b),
        "pooled_difference": float(f1_b - f1_a),
        "ci": [float(np.quantile(boot_f1, lo_q)), float(np.quantile(boot_f1, hi_q))],
        "ci_of": "difference in pooled F1 (counts summed over resampled images)",
    }
    auc_a, auc_b = col(a, "auc"), col(b, "auc")
    diff = auc_b - auc_a
    ok = np.isfinite(diff)
    boot_auc = (
        np.nanmean(np.where(ok, diff, np.nan)[idx], axis=1) if ok.any() else np.full(n_boot, np.nan)
    )
    result["auc"] = _summary(auc_a, auc_b, names) | {
        "pooled_a": a_doc["protocols"][protocol]["pooled"].get("auc"),
        "pooled_b": b_doc["protocols"][protocol]["pooled"].get("auc"),
        "ci": [float(np.nanquantile(boot_auc, lo_q)), float(np.nanquantile(boot_auc, hi_q))]
        if ok.any()
        else [math.nan, math.nan],
        "ci_of": "difference in mean per-image AUC (pooled AUC needs pixels not stored)",
    }
    return result


def _source(doc: dict[str, Any], arg: Any) -> str:
    if isinstance(arg, str | os.PathLike):
        return str(arg)
    if doc.get("checkpoint"):
        return str(doc["checkpoint"].get("path"))
    return str(doc.get("prob_dir", "?"))


def _summary(va: np.ndarray, vb: np.ndarray, names: list[str]) -> dict[str, Any]:
    d = vb - va
    fin = d[np.isfinite(d)]
    return {
        "per_image": {
            n: (None if not math.isfinite(x) else float(x)) for n, x in zip(names, d, strict=True)
        },
        "mean_difference": float(fin.mean()) if fin.size else math.nan,
        "median_difference": float(np.median(fin)) if fin.size else math.nan,
        "b_better": int((fin > 0).sum()),
        "a_better": int((fin < 0).sum()),
        "wilcoxon_p": _wilcoxon(d),
    }


def format_comparison(r: dict[str, Any]) -> str:
    """Human-readable Markdown summary of :func:`compare_results`."""
    p = r["protocol"]
    lines = [
        f"### Paired comparison, protocol `{p}`: B - A on {r['n_images']} images",
        f"A: {r['a']['source']} (threshold {r['a']['threshold']:.4g})",
        f"B: {r['b']['source']} (threshold {r['b']['threshold']:.4g})",
        "",
        f"| Metric [protocol `{p}`] | A | B | B - A | {int(r['bootstrap']['confidence'] * 100)}% CI "
        "(bootstrap) | mean per-image diff | B better / A better | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (("f1", "F1 (pooled)"), ("auc", "AUC (CI: mean per-image)")):
        m = r[key]
        pa, pb = m.get("pooled_a"), m.get("pooled_b")
        dd = (pb - pa) if pa is not None and pb is not None else None
        lines.append(
            f"| {label} | {_f(pa)} | {_f(pb)} | {_f(dd, sign=True)} | "
            f"[{_f(m['ci'][0], sign=True)}, {_f(m['ci'][1], sign=True)}] | "
            f"{_f(m['mean_difference'], sign=True)} | {m['b_better']} / {m['a_better']} | "
            f"{m['wilcoxon_p']:.4g} |"
        )
    return "\n".join(lines) + "\n"


def _f(v: Any, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:+.4f}" if sign else f"{v:.4f}"
