"""Evaluation pipelines: probability-map folders and checkpoints in, scored splits out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import noisy_probs, synthetic_samples

from saunet.errors import UserError
from saunet.evaluation import pipeline as P
from saunet.evaluation import protocols as E


def test_read_prob_map_formats(tmp_path):
    from PIL import Image

    a = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    assert np.array_equal(P.read_prob_map(tmp_path / "a.npy"), a)
    Image.fromarray(np.round(a * 255).astype(np.uint8)).save(tmp_path / "b.png")
    assert np.allclose(P.read_prob_map(tmp_path / "b.png"), a, atol=1 / 255)
    Image.fromarray(np.round(a * 65535).astype(np.uint16)).save(tmp_path / "c.png")
    assert np.allclose(P.read_prob_map(tmp_path / "c.png"), a, atol=1e-4)
    np.save(tmp_path / "bad.npy", a * 3)
    with pytest.raises(UserError, match="bad.npy"):
        P.read_prob_map(tmp_path / "bad.npy")


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
    doc = P.evaluate_prob_dir(tmp_path / "maps", "drive", None, out_dir=tmp_path / "out")
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
        P.evaluate_prob_dir(tmp_path / "maps", "drive", None, out_dir=tmp_path / "out")
    (tmp_path / "maps" / "01_test_prob.png").unlink()
    with pytest.raises(UserError, match="01_test"):
        P.evaluate_prob_dir(tmp_path / "maps", "drive", None)


def test_evaluate_prob_dir_val_f1(tmp_path, fake_data):
    for split in ("test", "train"):
        (tmp_path / split).mkdir()
        for s, prob in zip(fake_data[split], noisy_probs(fake_data[split]), strict=True):
            np.save(tmp_path / split / f"{s['name']}.npy", prob)
    doc = P.evaluate_prob_dir(tmp_path / "test", "drive", None, threshold_policy="val-f1",
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
        P.evaluate_prob_dir(tmp_path / "test", "drive", None, threshold_policy="val-f1",
                            val_prob_dir=tmp_path / "test", val_split="test")  # fmt: skip


# ------------------------------------------------------------------ checkpoint pipeline


def tiny_checkpoint(path: Path, val_names: list[str] | None = None) -> Path:
    import torch

    from saunet import build_model
    from saunet.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("sa-unet")
    meta = {"model_config": model.config.to_dict()}
    if val_names is not None:
        meta["data"] = {"dataset": "drive", "train": [], "val": val_names}
    return save_checkpoint(path, model.state_dict(), meta)


def test_evaluate_checkpoint_writes_report(tmp_path, fake_data):
    ckpt = tiny_checkpoint(tmp_path / "run" / "best.safetensors", val_names=["22_training"])
    out = tmp_path / "eval"
    doc = P.evaluate_checkpoint(tmp_path / "run", "drive", None, out_dir=out, progress=False,
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
    # the maps written are the maps evaluated: lossless 16-bit, so a reader with nothing but
    # Pillow and scikit-learn gets the same AUC under both protocols
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    maps = {
        s["name"]: np.asarray(Image.open(out / "probs" / f"{s['name']}.png"))
        for s in fake_data["test"]
    }
    assert all(m.dtype == np.uint16 for m in maps.values())
    for protocol in ("paper", "fov"):
        scores, labels = [], []
        for s in fake_data["test"]:
            keep = s["fov"] if protocol == "fov" else np.ones_like(s["fov"])
            scores.append(maps[s["name"]][keep] / 65535.0)
            labels.append(s["label"][keep])
        auc = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
        assert abs(auc - doc["protocols"][protocol]["pooled"]["auc"]) < 1e-4, protocol
    again = P.evaluate_prob_dir(out / "probs", "drive", None)
    assert again["protocols"]["fov"]["pooled"]["auc"] == pytest.approx(
        doc["protocols"]["fov"]["pooled"]["auc"], abs=1e-4
    )


def test_evaluate_checkpoint_errors(tmp_path, fake_data):
    with pytest.raises(UserError, match="no such checkpoint"):
        P.evaluate_checkpoint(tmp_path / "missing.safetensors", "drive", None)
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors")
    with pytest.raises(UserError, match="records no validation"):
        P.evaluate_checkpoint(ckpt, "drive", None, threshold_policy="val-f1", progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UserError, match="full"):
        P.evaluate_checkpoint(ckpt, "drive", None, out_dir=tmp_path / "full")
