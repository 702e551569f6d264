"""Evaluation protocols, the second observer, checkpoint and probability-map pipelines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from saunet import evaluate as E
from saunet import evaluation_pipeline as P
from saunet import metrics as M
from saunet.errors import UserError

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
        or Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )


def synthetic_samples(n: int = 3, h: int = 24, w: int = 28, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    fov = (yy - h / 2) ** 2 / (h / 2) ** 2 + (xx - w / 2) ** 2 / (w / 2) ** 2 < 0.8
    out = []
    for i in range(n):
        label = np.zeros((h, w), bool)
        label[:, 5 + i : 8 + i] = True
        label[10:12, :] = True
        label &= fov
        second = label.copy()
        second[rng.random((h, w)) < 0.05] ^= True
        image = rng.random((h, w, 3)).astype(np.float32)
        out.append({"image": image, "label": label, "fov": fov, "second_label": second,
                    "name": f"{i + 1:02d}_test", "size": (h, w), "path": f"/x/{i}.tif"})  # fmt: skip
    return out


def noisy_probs(samples: list[dict], seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.clip(s["label"] * 0.6 + rng.random(s["label"].shape) * 0.5, 0, 1).astype(np.float32)
        for s in samples
    ]


# ------------------------------------------------------------------ evaluate_maps


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


def test_read_prob_map_formats(tmp_path):
    from PIL import Image

    a = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    assert np.array_equal(E.read_prob_map(tmp_path / "a.npy"), a)
    Image.fromarray(np.round(a * 255).astype(np.uint8)).save(tmp_path / "b.png")
    assert np.allclose(E.read_prob_map(tmp_path / "b.png"), a, atol=1 / 255)
    Image.fromarray(np.round(a * 65535).astype(np.uint16)).save(tmp_path / "c.png")
    assert np.allclose(E.read_prob_map(tmp_path / "c.png"), a, atol=1e-4)
    np.save(tmp_path / "bad.npy", a * 3)
    with pytest.raises(UserError, match="bad.npy"):
        E.read_prob_map(tmp_path / "bad.npy")


@pytest.fixture
def fake_data(monkeypatch):
    """Replace the dataset loader by synthetic test/train splits."""
    splits = {"test": synthetic_samples(3, seed=0), "train": synthetic_samples(2, seed=7)}
    for i, s in enumerate(splits["train"]):
        s["name"] = f"{21 + i}_training"
        s.pop("second_label")

    def load(dataset, data_root, split, folder=None):
        return splits[split], Path("/synthetic")

    monkeypatch.setattr(P, "_load", load)
    return splits


def test_evaluate_prob_dir(tmp_path, fake_data):
    from saunet.data.io import write_png

    samples = fake_data["test"]
    probs = noisy_probs(samples)
    for p, s in zip(probs, samples, strict=True):
        write_png(tmp_path / "maps" / f"{s['name']}_prob.png", p)
    doc = E.evaluate_prob_dir(tmp_path / "maps", "drive", None, out_dir=tmp_path / "out")
    q = [np.round(p * 255) / 255 for p in probs]  # what the 8-bit files hold
    direct = E.evaluate_maps(q, samples, curves=False)
    for protocol in ("paper", "fov"):
        assert (
            doc["protocols"][protocol]["pooled"]["counts"] == direct[protocol]["pooled"]["counts"]
        )
        assert doc["protocols"][protocol]["pooled"]["auc"] == pytest.approx(
            direct[protocol]["pooled"]["auc"]
        )
    assert doc["second_observer"]["fov"]["n_images"] == 3
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["source"] == "prob_dir" and written["data"]["names"] == [
        s["name"] for s in samples
    ]
    for name in ("per_image.csv", "table.md", "roc.png", "pr.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    with pytest.raises(UserError, match="not empty"):
        E.evaluate_prob_dir(tmp_path / "maps", "drive", None, out_dir=tmp_path / "out")
    (tmp_path / "maps" / "01_test_prob.png").unlink()
    with pytest.raises(UserError, match="01_test"):
        E.evaluate_prob_dir(tmp_path / "maps", "drive", None)


def test_evaluate_prob_dir_val_f1(tmp_path, fake_data):
    for split in ("test", "train"):
        (tmp_path / split).mkdir()
        for s, prob in zip(fake_data[split], noisy_probs(fake_data[split]), strict=True):
            np.save(tmp_path / split / f"{s['name']}.npy", prob)
    doc = E.evaluate_prob_dir(tmp_path / "test", "drive", None, threshold_policy="val-f1",
                              val_prob_dir=tmp_path / "train")  # fmt: skip
    info = doc["threshold"]
    assert info["policy"] == "val-f1" and info["validation_images"] == [
        "21_training",
        "22_training",
    ]
    for protocol in ("paper", "fov"):
        assert (
            doc["protocols"][protocol]["threshold"] == info["per_protocol"][protocol]["threshold"]
        )
    with pytest.raises(UserError, match="must not"):
        E.evaluate_prob_dir(tmp_path / "test", "drive", None, threshold_policy="val-f1",
                            val_prob_dir=tmp_path / "test", val_split="test")  # fmt: skip


# ------------------------------------------------------------------ checkpoint pipeline


def tiny_checkpoint(path: Path, val_names: list[str] | None = None) -> Path:
    import torch

    from saunet import build_model
    from saunet.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("sa-unet")
    meta = {"model_config": model.config.to_dict()}
    if val_names is not None:
        meta["data"] = {"dataset": "drive", "train": [], "val": val_names}
    return save_checkpoint(path, model.state_dict(), meta)


def test_evaluate_checkpoint_writes_report(tmp_path, fake_data):
    ckpt = tiny_checkpoint(tmp_path / "run" / "best.safetensors", val_names=["22_training"])
    out = tmp_path / "eval"
    doc = E.evaluate_checkpoint(tmp_path / "run", "drive", None, out_dir=out, progress=False,
                                pad_to=(32, 32), threshold_policy="val-f1")  # fmt: skip
    assert doc["checkpoint"]["path"] == str(ckpt)
    assert len(doc["checkpoint"]["sha256"]) == 64
    assert doc["checkpoint"]["meta"]["model_config"]["name"] == "sa-unet"
    assert doc["threshold"]["validation_images"] == ["22_training"]
    assert doc["inference"]["pad_to"] == [32, 32]
    for name in ("metrics.json", "per_image.csv", "table.md", "roc.png", "pr.png"):
        assert (out / name).stat().st_size > 0
    for s in fake_data["test"]:
        assert (out / "probs" / f"{s['name']}.png").is_file()
    table = (out / "table.md").read_text()
    assert "protocol `paper`" in table and "protocol `fov`" in table
    assert "SA-UNet (paper, Table II/V)" in table and "2nd observer" in table
    csv_lines = (out / "per_image.csv").read_text().splitlines()
    assert csv_lines[0].startswith("protocol,threshold,name,se,")
    assert len(csv_lines) == 1 + 2 * 3
    # the maps written are the maps evaluated (to 8-bit rounding)
    again = E.evaluate_prob_dir(out / "probs", "drive", None)
    assert (
        abs(again["protocols"]["fov"]["pooled"]["auc"] - doc["protocols"]["fov"]["pooled"]["auc"])
        < 0.02
    )


def test_evaluate_checkpoint_errors(tmp_path, fake_data):
    with pytest.raises(UserError, match="no such checkpoint"):
        E.evaluate_checkpoint(tmp_path / "missing.safetensors", "drive", None)
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    with pytest.raises(UserError, match="records no validation"):
        E.evaluate_checkpoint(ckpt, "drive", None, threshold_policy="val-f1", progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UserError, match="full"):
        E.evaluate_checkpoint(ckpt, "drive", None, out_dir=tmp_path / "full")
