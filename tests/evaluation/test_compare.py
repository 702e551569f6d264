"""Paired comparison of two evaluations: differences, Wilcoxon, bootstrap CI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from saunet.errors import UserError
from saunet.evaluation import metrics as M
from saunet.evaluation.compare import compare_results, format_comparison


def make_doc(seed: int, names: list[str] | None = None, shift: float = 0.0) -> dict:
    """A metrics.json-like document with per-image counts and AUCs under protocol fov."""
    rng = np.random.default_rng(seed)
    names = names or [f"{i:02d}_test" for i in range(1, 9)]
    per_image = []
    base = np.random.default_rng(0)  # same images for every seed; ``seed`` adds jitter
    for i, n in enumerate(names):
        fp, fn = int(base.integers(100, 300)), int(base.integers(100, 300))
        tp = int(800 + 10 * i + rng.integers(0, 5))
        c = M.Counts(tp=tp + int(100 * shift), fp=fp, fn=fn - int(100 * shift), tn=9000)
        per_image.append({"name": n, **M.binary_metrics(c), "auc": 0.95 + shift / 100 + rng.random() / 100,
                          "counts": c.to_dict()})  # fmt: skip
    pooled = M.Counts.sum([M.Counts.from_dict(m["counts"]) for m in per_image])
    return {
        "data": {"dataset": "drive", "labels_sha256": "abc"},
        "protocols": {"fov": {"threshold": 0.5, "per_image": per_image,
                              "pooled": {"f1": M.f1(pooled), "auc": 0.96 + shift / 100}}},
    }  # fmt: skip


def test_identical_results():
    a = make_doc(0)
    r = compare_results(a, a, "fov", n_boot=200)
    assert r["f1"]["pooled_difference"] == 0
    assert r["f1"]["ci"] == [0.0, 0.0]
    assert r["f1"]["wilcoxon_p"] == 1.0 and r["auc"]["wilcoxon_p"] == 1.0
    assert all(v == 0 for v in r["f1"]["per_image"].values())


def test_better_model_detected_and_seeded():
    a, b = make_doc(0), make_doc(1, shift=1.0)
    r = compare_results(a, b, "fov", n_boot=2000, seed=3)
    f = r["f1"]
    pooled_a = M.f1(
        M.Counts.sum([M.Counts.from_dict(m["counts"]) for m in a["protocols"]["fov"]["per_image"]])
    )
    assert f["pooled_a"] == pytest.approx(pooled_a)
    assert f["pooled_difference"] > 0
    assert f["ci"][0] <= f["pooled_difference"] <= f["ci"][1]
    assert f["ci"][0] > 0  # every image better in B
    assert f["b_better"] == 8 and f["a_better"] == 0
    assert f["wilcoxon_p"] == pytest.approx(2 / 2**8)  # exact two-sided, all 8 signs agree
    assert r["auc"]["mean_difference"] > 0
    assert compare_results(a, b, "fov", n_boot=2000, seed=3) == r
    text = format_comparison(r)
    assert "protocol `fov`" in text and "Wilcoxon" in text


def test_errors(tmp_path):
    a = make_doc(0)
    b = make_doc(1, names=[f"{i:02d}_test" for i in range(2, 10)])
    with pytest.raises(UserError, match="different images"):
        compare_results(a, b, "fov")
    with pytest.raises(UserError, match="protocol 'paper'"):
        compare_results(a, a, "paper")
    c = make_doc(2)
    c["data"]["labels_sha256"] = "other"
    with pytest.raises(UserError, match="different labels"):
        compare_results(a, c, "fov")
    (tmp_path / "a.json").write_text(json.dumps(a))
    with pytest.raises(UserError, match="not found"):
        compare_results(tmp_path / "a.json", tmp_path / "missing.json", "fov")
    assert (
        compare_results(tmp_path / "a.json", tmp_path / "a.json", "fov", n_boot=10)["n_images"] == 8
    )
