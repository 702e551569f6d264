"""Evaluation protocols, the second observer, checkpoint and probability-map pipelines."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from synthetic import noisy_probs, synthetic_samples

from saunet.errors import UserError
from saunet.evaluation import metrics as M
from saunet.evaluation import protocols as E

# README of the shared data: second observer vs first, pooled, SE SP ACC F1 MCC.
SECOND_OBSERVER = {
    "drive": {
        "paper": (0.7743, 0.9819, 0.9637, 0.7889, 0.7692),
        "fov": (0.7746, 0.9725, 0.9473, 0.7891, 0.7591),
    },
    "chase": {
        "paper": (0.8313, 0.9829, 0.9733, 0.7969, 0.7834),
        "fov": (0.8318, 0.9745, 0.9615, 0.7974, 0.7770),
    },
}


def data_root() -> Path:
    return Path(
        os.environ.get("SAUNET_DATA")
        or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    )


def test_evaluate_maps_pooled_equals_concatenated():
    samples = synthetic_samples()
    probs = noisy_probs(samples)
    res = E.evaluate_maps(probs, samples, protocols=("paper", "fov"), threshold=0.5)
    assert set(res) == {"paper", "fov"}
    allp = np.stack(probs)
    alll = np.stack([s["label"] for s in samples])
    allf = np.stack([s["fov"] for s in samples])
    for protocol, region in (("paper", np.ones_like(allf)), ("fov", allf)):
        r = res[protocol]
        assert r["protocol"] == protocol and r["threshold"] == 0.5 and r["n_images"] == 3
        c = M.confusion_counts(allp >= 0.5, alll, region)
        assert r["pooled"]["counts"] == c.to_dict()
        assert r["pooled"]["f1"] == pytest.approx(M.f1(c))
        assert r["pooled"]["auc"] == pytest.approx(M.roc_auc(allp[region], alll[region]))
        assert [m["name"] for m in r["per_image"]] == ["01_test", "02_test", "03_test"]
        summed = M.Counts.sum([M.Counts.from_dict(m["counts"]) for m in r["per_image"]])
        assert summed == c
        assert r["pooled"]["cldice"] == pytest.approx(
            np.mean([m["cldice"] for m in r["per_image"]])
        )
        assert len(r["curves"]["roc"]["fpr"]) == len(r["curves"]["roc"]["tpr"])
    assert res["fov"]["n_pixels"] < res["paper"]["n_pixels"]


def test_evaluate_maps_threshold_per_protocol_and_errors():
    samples = synthetic_samples(2)
    probs = noisy_probs(samples)
    res = E.evaluate_maps(probs, samples, threshold={"paper": 0.3, "fov": 0.7}, curves=False)
    assert res["paper"]["threshold"] == 0.3 and res["fov"]["threshold"] == 0.7
    assert "curves" not in res["paper"]
    with pytest.raises(UserError):
        E.evaluate_maps(probs, samples, protocols=("whole",))
    with pytest.raises(ValueError):
        E.evaluate_maps(probs[:1], samples)
    with pytest.raises(UserError):  # DataError is a UserError: shape mismatch names the image
        E.evaluate_maps([p[:-1] for p in probs], samples)


def test_select_threshold_uses_given_validation_maps():
    samples = synthetic_samples(2, seed=3)
    probs = noisy_probs(samples, seed=4)
    thr, f = E.select_threshold(probs, samples, "fov")
    s = np.concatenate([p[x["fov"]] for p, x in zip(probs, samples, strict=True)])
    y = np.concatenate([x["label"][x["fov"]] for x in samples])
    assert (thr, f) == M.best_f1_threshold(s, y)


def test_second_observer_synthetic():
    samples = synthetic_samples()
    res = E.second_observer_metrics(samples, ("paper", "fov"))
    direct = E.evaluate_maps(
        [s["second_label"].astype(np.float32) for s in samples], samples, curves=False
    )
    for p in ("paper", "fov"):
        assert res[p]["pooled"]["counts"] == direct[p]["pooled"]["counts"]
        pooled = res[p]["pooled"]
        assert pooled["auc"] == pytest.approx((pooled["se"] + pooled["sp"]) / 2)
    no_second = [{k: v for k, v in s.items() if k != "second_label"} for s in samples]
    assert E.second_observer_metrics(no_second) is None


@pytest.mark.parametrize("dataset", ["drive", "chase"])
def test_second_observer_reproduces_readme(dataset):
    """The figures of ../shared/data/README.md, to 4 decimals, both protocols."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"data root {root} absent (set SAUNET_DATA)")
    from saunet.data.datasets import list_files
    from saunet.data.io import read_mask

    files = list_files(dataset, root, "test")
    samples = [
        {"name": f.name, "label": read_mask(f.label), "fov": read_mask(f.fov),
         "second_label": read_mask(f.second_label)}
        for f in files
    ]  # fmt: skip
    res = E.second_observer_metrics(samples, ("paper", "fov"))
    for protocol, expected in SECOND_OBSERVER[dataset].items():
        p = res[protocol]["pooled"]
        got = tuple(round(p[k], 4) for k in ("se", "sp", "acc", "f1", "mcc"))
        assert got == expected, (dataset, protocol, got)


# ------------------------------------------------------------------ probability maps
