"""``saunet evaluate`` end to end on a tiny checkpoint and synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from saunet import build_model
from saunet.cli import main
from saunet.evaluation import pipeline as P
from saunet.models.checkpoint import save_checkpoint


def _samples(n: int = 2, h: int = 20, w: int = 26) -> list[dict]:
    rng = np.random.default_rng(0)
    fov = np.zeros((h, w), bool)
    fov[2:-2, 2:-2] = True
    out = []
    for i in range(n):
        label = np.zeros((h, w), bool)
        label[:, 8 + i : 11 + i] = True
        out.append({"image": rng.random((h, w, 3), dtype=np.float32), "label": label & fov, "fov": fov,
                    "second_label": label, "name": f"img{i}", "size": (h, w), "path": f"img{i}.png"})  # fmt: skip
    return out


@pytest.fixture
def synthetic(monkeypatch):
    samples = _samples()
    monkeypatch.setattr(
        P, "_load", lambda dataset, root, split, folder=None: (samples, Path("/synthetic"))
    )
    return samples


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    torch.manual_seed(0)
    model = build_model("sa-unet")
    return save_checkpoint(
        tmp_path / "tiny.safetensors", model.state_dict(), {"model_config": model.config.to_dict()}
    )


def test_evaluate_command_writes_files(tmp_path, synthetic, checkpoint, capsys):
    out = tmp_path / "eval"
    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "drive", "--out", str(out),
               "--pad-to", "24x32", "--protocol", "both"])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert (
        "protocol `paper`" in printed and "protocol `fov`" in printed and "2nd observer" in printed
    )
    for name in (
        "metrics.json",
        "per_image.csv",
        "table.md",
        "roc.png",
        "pr.png",
        "probs/img0.png",
        "probs/img1.png",
    ):
        assert (out / name).is_file(), name
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc["protocols"]) == {"paper", "fov"}
    assert doc["checkpoint"]["path"] == str(checkpoint)
    assert doc["threshold"] == {"policy": "fixed", "value": 0.5}
    # refuses to overwrite, then does with --overwrite; fov only
    rc = main(
        ["evaluate", "--checkpoint", str(checkpoint), "--dataset", "drive", "--out", str(out)]
    )
    assert rc == 2 and "not empty" in capsys.readouterr().err
    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "drive", "--out", str(out),
               "--overwrite", "--protocol", "fov", "--threshold", "0.4", "--no-probs", "--pad-to", "none"])  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc["protocols"]) == {"fov"} and doc["protocols"]["fov"]["threshold"] == 0.4
    assert doc["inference"]["pad_to"] is None


def test_evaluate_command_probs_dir(tmp_path, synthetic, capsys):
    from saunet.data.io import write_png

    for s in synthetic:
        write_png(tmp_path / "maps" / f"{s['name']}.png", s["label"].astype(np.float32) * 0.9)
    out = tmp_path / "ext"
    rc = main(["evaluate", "--probs-dir", str(tmp_path / "maps"), "--dataset", "drive", "--out", str(out),
               "--protocol", "fov"])  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["source"] == "prob_dir" and doc["protocols"]["fov"]["pooled"]["f1"] == 1.0


def test_evaluate_command_user_errors(tmp_path, synthetic, checkpoint, capsys):
    args = [
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--dataset",
        "drive",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main([*args, "--threshold", "0.3", "--threshold-policy", "val-f1"]) == 2
    assert "--threshold goes with" in capsys.readouterr().err
    assert main([*args, "--pad-to", "big"]) == 2
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope"), "--dataset", "drive"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def _folder_args(spec: dict, masks: bool) -> list[str]:
    d = spec["test"]
    return ["--images", d["images"], "--labels", d["labels"]] + (
        ["--masks", d["masks"]] if masks else []
    )


@pytest.mark.parametrize("masks", [True, False])
def test_own_folder_goes_through_the_segment_path(
    tmp_path, tiny_dataset, tiny_checkpoint, masks, capsys
):
    """--images/--labels: a folder of one's own photographs, predicted as `segment` does."""
    from saunet.inference.segmenter import Segmenter

    ckpt = tiny_checkpoint(tmp_path / "w.safetensors", scale={"fov_diameter_px": 30.0})
    out = tmp_path / "eval"
    args = ["evaluate", "--checkpoint", str(ckpt), *_folder_args(tiny_dataset, masks)]
    assert main([*args, "--out", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["data"]["dataset"] == "folder" and doc["data"]["n_images"] == 2
    assert doc["inference"]["mode"] == "segment" and doc["inference"]["pad_to"] is None
    for name in ("per_image.csv", "table.md", "roc.png", "pr.png", "probs/im0.png"):
        assert (out / name).stat().st_size > 0
    # the scored maps are the maps `segment` makes of the same photographs
    from PIL import Image

    seg = Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32")
    folder = Path(tiny_dataset["test"]["images"])
    for i in range(2):
        image = np.asarray(Image.open(folder / f"im{i}.png"))
        fov = np.asarray(Image.open(folder / f"im{i}_mask.png")) > 0 if masks else None
        res = seg.segment(image, fov=fov)
        assert doc["inference"]["scales"][i] == pytest.approx(res.scale)
        assert res.scale != 1.0  # the resolution policy ran
        written = np.asarray(Image.open(out / "probs" / f"im{i}.png")) / 65535
        np.testing.assert_allclose(written, res.prob, atol=1e-4)
    assert "protocol `fov`" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--images", "x"], "--images DIR and --labels DIR"),
        (["--dataset", "drive", "--images", "x", "--labels", "y"], "folder only"),
        ([], "--dataset"),
    ],
)
def test_folder_usage_errors(tmp_path, tiny_checkpoint, extra, message, capsys):
    ckpt = tiny_checkpoint(tmp_path / "w.safetensors")
    assert main(["evaluate", "--checkpoint", str(ckpt), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_empty_folder_and_label_of_another_size_are_one_line(tmp_path, tiny_checkpoint, capsys):
    from PIL import Image

    ckpt = tiny_checkpoint(tmp_path / "w.safetensors")
    (tmp_path / "empty").mkdir()
    args = ["evaluate", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]
    assert (
        main([*args, "--images", str(tmp_path / "empty"), "--labels", str(tmp_path / "empty")]) == 2
    )
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    d = tmp_path / "odd"
    d.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(d / "a.png")
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(d / "a_label.png")
    assert main([*args, "--images", str(d), "--labels", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert "a_label.png" in err and len(err.splitlines()) == 1
