"""Metrics: hand-computed cases, zero-division rules, scikit-learn parity (1e-6)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from saunet.evaluation import metrics as M

sk = pytest.importorskip("sklearn.metrics")

TOL = 1e-6


def data_root() -> Path:
    return Path(
        os.environ.get("SAUNET_DATA")
        or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    )


# ---------------------------------------------------------------- hand-computed cases


def test_counts_2x2():
    pred = np.array([[True, False], [True, True]])
    label = np.array([[True, True], [False, True]])
    c = M.confusion_counts(pred, label)
    assert c == M.Counts(tp=2, fp=1, fn=1, tn=0)
    assert M.sensitivity(c) == pytest.approx(2 / 3)
    assert M.specificity(c) == 0.0
    assert M.accuracy(c) == pytest.approx(0.5)
    assert M.precision(c) == pytest.approx(2 / 3)
    assert M.f1(c) == pytest.approx(2 / 3)
    assert M.iou(c) == pytest.approx(0.5)
    # tn = 0 with fp = 1: the (tn + fn) marginal is 1, (tn + fp) = 1 -> defined
    assert M.mcc(c) == pytest.approx((2 * 0 - 1 * 1) / math.sqrt(3 * 3 * 1 * 1))


def test_counts_3x3_with_mask():
    label = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    pred = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    c = M.confusion_counts(pred, label)
    assert c == M.Counts(tp=2, fp=2, fn=1, tn=4)
    m = M.binary_metrics(c)
    assert m["se"] == pytest.approx(2 / 3)
    assert m["sp"] == pytest.approx(4 / 6)
    assert m["acc"] == pytest.approx(6 / 9)
    assert m["precision"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(4 / 7)
    assert m["iou"] == pytest.approx(2 / 5)
    assert m["mcc"] == pytest.approx((2 * 4 - 2 * 1) / math.sqrt(4 * 3 * 6 * 5))
    fov = np.ones((3, 3), dtype=bool)
    fov[2, 2] = False  # drops the false positive in the corner
    assert M.confusion_counts(pred, label, fov) == M.Counts(tp=2, fp=1, fn=1, tn=4)


def test_auc_hand_computed_with_ties():
    # positives 0.8, 0.4; negatives 0.4, 0.1 -> pairs: (0.8>0.4) (0.8>0.1) (0.4=0.4) (0.4>0.1)
    scores = np.array([[0.8, 0.4], [0.4, 0.1]])
    labels = np.array([[True, True], [False, False]])
    assert M.roc_auc(scores, labels) == pytest.approx(3.5 / 4)
    # AP: thresholds 0.8 (P=1, R=.5), 0.4 (P=2/3, R=1) -> .5*1 + .5*2/3
    assert M.average_precision(scores, labels) == pytest.approx(0.5 + 1 / 3)


def test_binary_map_auc_is_balanced_accuracy():
    rng = np.random.default_rng(1)
    label = rng.random((30, 30)) < 0.2
    pred = rng.random((30, 30)) < 0.3
    c = M.confusion_counts(pred, label)
    assert M.roc_auc(pred, label) == pytest.approx(
        (M.sensitivity(c) + M.specificity(c)) / 2, abs=1e-12
    )


# ---------------------------------------------------------------- zero division


def test_zero_division_rules():
    empty = np.zeros((4, 4), dtype=bool)
    some = empty.copy()
    some[0, 0] = True
    c = M.confusion_counts(empty, empty)  # empty label, empty prediction
    assert c == M.Counts(0, 0, 0, 16)
    assert M.sensitivity(c) == 0.0 and M.sensitivity(c, zero_division=1.0) == 1.0
    assert M.precision(c) == 0.0 and M.precision(c, zero_division=1.0) == 1.0
    assert M.f1(c) == 0.0 and M.f1(c, zero_division=1.0) == 1.0
    assert M.iou(c, zero_division=1.0) == 1.0
    assert M.specificity(c) == 1.0 and M.accuracy(c) == 1.0
    assert M.mcc(c) == 0.0
    assert math.isnan(M.sensitivity(c, zero_division=float("nan")))
    c2 = M.confusion_counts(some, empty)  # empty label, non-empty prediction
    assert M.f1(c2, zero_division=1.0) == 0.0 and M.iou(c2, zero_division=1.0) == 0.0
    assert M.sensitivity(c2, zero_division=1.0) == 1.0 and M.precision(c2) == 0.0
    c3 = M.confusion_counts(empty, some)  # empty prediction, non-empty label
    assert M.sensitivity(c3) == 0.0 and M.precision(c3, zero_division=1.0) == 1.0
    assert M.f1(c3, zero_division=1.0) == 0.0 and M.mcc(c3) == 0.0
    assert M.accuracy(M.Counts()) == 0.0
    # single-class labels: ranking metrics undefined
    assert math.isnan(M.roc_auc(np.linspace(0, 1, 16), np.zeros(16, bool)))
    assert math.isnan(M.average_precision(np.linspace(0, 1, 16), np.zeros(16, bool)))
    assert math.isnan(M.roc_auc(np.linspace(0, 1, 16), np.ones(16, bool)))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "pred,label",
    [
        ([0, 0, 0], [0, 0, 0]),
        ([1, 0, 0], [0, 0, 0]),
        ([0, 0, 0], [1, 0, 0]),
        ([1, 1, 1], [1, 1, 1]),
    ],
)
def test_zero_division_matches_sklearn(pred, label):
    p, t = np.array(pred, bool), np.array(label, bool)
    c = M.confusion_counts(p, t)
    for zd in (0.0, 1.0):
        assert M.f1(c, zd) == sk.f1_score(t, p, zero_division=zd)
        assert M.precision(c, zd) == sk.precision_score(t, p, zero_division=zd)
        assert M.sensitivity(c, zd) == sk.recall_score(t, p, zero_division=zd)
        assert M.iou(c, zd) == sk.jaccard_score(t, p, zero_division=zd)
    assert M.mcc(c) == sk.matthews_corrcoef(t, p)


# ---------------------------------------------------------------- sklearn parity


def _check_parity(scores: np.ndarray, labels: np.ndarray, thr: float = 0.5) -> None:
    s, y = scores.ravel(), labels.ravel()
    assert abs(M.roc_auc(scores, labels) - sk.roc_auc_score(y, s)) < TOL
    assert abs(M.average_precision(scores, labels) - sk.average_precision_score(y, s)) < TOL
    pred = scores >= thr
    c = M.confusion_counts(pred, labels)
    assert abs(M.f1(c) - sk.f1_score(y, pred.ravel())) < TOL
    assert abs(M.mcc(c) - sk.matthews_corrcoef(y, pred.ravel())) < TOL
    assert abs(M.accuracy(c) - sk.accuracy_score(y, pred.ravel())) < TOL
    assert abs(M.iou(c) - sk.jaccard_score(y, pred.ravel())) < TOL


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sklearn_parity_random(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random((64, 80)) < 0.15
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1).astype(np.float32)
    _check_parity(scores, labels)


@pytest.mark.parametrize("levels", [2, 5, 256])
def test_sklearn_parity_quantised_ties(levels):
    rng = np.random.default_rng(levels)
    labels = rng.random(20000) < 0.1
    scores = np.round(np.clip(rng.normal(0.3 + 0.3 * labels, 0.25), 0, 1) * (levels - 1))
    _check_parity((scores / (levels - 1)).astype(np.float32), labels)
    # 8/16-bit integer maps take the exact histogram path
    for dtype in (np.uint8, np.uint16):
        q = scores.astype(dtype)
        assert abs(M.roc_auc(q, labels) - sk.roc_auc_score(labels, scores)) < TOL
        assert (
            abs(M.average_precision(q, labels) - sk.average_precision_score(labels, scores)) < TOL
        )
    b = scores > (levels - 1) / 2
    assert abs(M.roc_auc(b, labels) - sk.roc_auc_score(labels, b)) < TOL
    assert abs(M.average_precision(b, labels) - sk.average_precision_score(labels, b)) < TOL
    assert math.isnan(M.roc_auc(b, np.zeros_like(labels)))


def test_sklearn_parity_real_labels():
    """A smoothed reference label as the 'prediction' on real DRIVE images."""
    root = data_root() / "DRIVE" / "test"
    if not root.is_dir():
        pytest.skip(f"data root {root} absent (set SAUNET_DATA)")
    from scipy.ndimage import gaussian_filter

    from saunet.data.io import read_mask

    scores, labels, fovs = [], [], []
    for i in (1, 2):
        label = read_mask(root / "1st_manual" / f"{i:02d}_manual1.gif")
        fov = read_mask(root / "mask" / f"{i:02d}_test_mask.gif")
        noise = np.random.default_rng(i).normal(0, 0.15, label.shape)
        prob = np.clip(gaussian_filter(label.astype(np.float32), 1.5) + noise, 0, 1).astype(
            np.float32
        )
        scores.append(np.round(prob * 255) / 255)  # like an 8-bit PNG: many ties
        labels.append(label)
        fovs.append(fov)
    s, y, f = np.stack(scores), np.stack(labels), np.stack(fovs)
    _check_parity(s, y)
    _check_parity(s[f], y[f])


# ---------------------------------------------------------------- curves, thresholds, clDice


def test_roc_curve_and_pr_curve():
    rng = np.random.default_rng(5)
    labels = rng.random(5000) < 0.2
    scores = np.clip(rng.normal(0.4 + 0.2 * labels, 0.2), 0, 1)
    fpr, tpr, thr = M.roc_curve(scores, labels, max_points=50)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and len(fpr) <= 51
    fpr_full, tpr_full, _ = M.roc_curve(scores, labels, max_points=None)
    assert abs(np.trapezoid(tpr_full, fpr_full) - sk.roc_auc_score(labels, scores)) < TOL
    rec, prec, _ = M.pr_curve(scores, labels, max_points=50)
    assert rec[-1] == 1 and np.all(np.diff(rec) >= 0)
    assert prec[-1] == pytest.approx(labels.mean())


def test_best_f1_threshold_brute_force():
    rng = np.random.default_rng(3)
    labels = rng.random(3000) < 0.2
    scores = np.round(np.clip(rng.normal(0.4 + 0.25 * labels, 0.2), 0, 1), 2)
    thr, f = M.best_f1_threshold(scores, labels)
    brute = max((sk.f1_score(labels, scores >= t), t) for t in np.unique(scores))
    assert f == pytest.approx(brute[0], abs=TOL)
    assert sk.f1_score(labels, scores >= thr) == pytest.approx(f, abs=TOL)
    thr2, f2 = M.best_f1_threshold([scores[:1000], scores[1000:]], [labels[:1000], labels[1000:]])
    assert (thr2, f2) == (thr, f)


def test_cldice():
    label = np.zeros((20, 20), dtype=bool)
    label[5:8, 2:18] = True
    assert M.cldice(label, label) == pytest.approx(1.0)
    broken = label.copy()
    broken[:, 9:11] = False
    assert 0 < M.cldice(broken, label) < 1
    empty = np.zeros_like(label)
    assert M.cldice(empty, label) == 0.0
    assert M.cldice(empty, empty) == 0.0 and M.cldice(empty, empty, zero_division=1.0) == 1.0


def test_input_validation():
    with pytest.raises(ValueError):
        M.confusion_counts(np.zeros((2, 2), bool), np.zeros((2, 3), bool))
    with pytest.raises(TypeError):
        M.confusion_counts(np.zeros((2, 2)), np.zeros((2, 2), bool))
    with pytest.raises(ValueError):
        M.roc_auc(np.array([0.1, np.nan]), np.array([True, False]))
