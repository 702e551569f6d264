"""Weights that are not what they claim: another network under SA-UNet metadata, a
half-written ``last.safetensors``, a PyTorch pickle (issue 26, fault 5)."""

from __future__ import annotations

import pytest
import torch
from faultkit import log_rows

from saunet import build_model
from saunet.cli import main
from saunet.models.checkpoint import (
    CheckpointError,
    WeightsMismatch,
    load_model,
    read_checkpoint,
    save_checkpoint,
)


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


@pytest.fixture
def unet_as_sa_unet(tmp_path):
    """A plain U-Net's weights whose metadata says SA-UNet."""
    sa = build_model("sa-unet", channels=(4, 8, 16, 32))
    unet = build_model("unet", channels=(8, 16, 32, 64))
    tensors = {"model." + k: v for k, v in unet.state_dict().items()}
    return save_checkpoint(tmp_path / "w.safetensors", tensors,
                           {"model_config": sa.config.to_dict()}, sidecar=False)  # fmt: skip


def test_weights_of_another_network_are_one_line(unet_as_sa_unet, tmp_path, capsys):
    with pytest.raises(WeightsMismatch, match="do not fit the network sa-unet") as info:
        load_model(unet_as_sa_unet)
    assert "\n" not in str(info.value)
    out = tmp_path / "w.onnx"
    assert main(["export", "--weights", str(unet_as_sa_unet), "--out", str(out)]) == 2
    assert "made for another network" in one_line(capsys)
    assert not out.exists()


def test_resuming_into_weights_of_another_network_is_one_line(trained, unet_as_sa_unet, capsys):
    (trained / "last.safetensors").write_bytes(unet_as_sa_unet.read_bytes())
    assert main(["train", "--resume", str(trained)]) == 2
    assert "do not fit the network" in one_line(capsys)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_a_pytorch_pickle_is_named_and_never_unpickled(tmp_path, legacy, monkeypatch, capsys):
    path = tmp_path / "model.pt"
    torch.save(build_model("sa-unet").state_dict(), path,
               _use_new_zipfile_serialization=not legacy)  # fmt: skip
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(CheckpointError, match="this is a PyTorch pickle; saunet loads safetensors"):
        read_checkpoint(path)
    assert main(["export", "--weights", str(path), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "PyTorch pickle" in one_line(capsys)


def test_a_half_written_last_falls_back_to_the_newest_intact_epoch(trained, caplog, one_thread):
    # Copies: the read tensors may map the file that is truncated next.
    want = {k: v.clone() for k, v in read_checkpoint(trained / "last.safetensors")[0].items()}
    data = (trained / "last.safetensors").read_bytes()
    (trained / "last.safetensors").write_bytes(data[: len(data) // 2])
    # The newest epoch checkpoint is damaged too: the resume goes back to epoch 1.
    (trained / "checkpoints" / "epoch0002.safetensors").write_bytes(b"")
    assert main(["train", "--resume", str(trained), "--no-test-eval"]) == 0
    assert "resuming from checkpoints/epoch0001.safetensors (epoch 1) instead" in caplog.text
    got, meta = read_checkpoint(trained / "last.safetensors")
    assert meta["epoch"] == 1 and got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert [r["epoch"] for r in log_rows(trained)] == ["1", "2"]


def test_nothing_intact_to_resume_from_is_one_line(trained, capsys):
    for p in [trained / "last.safetensors", *(trained / "checkpoints").iterdir()]:
        p.write_bytes(b"\x00" * 16)
    assert main(["train", "--resume", str(trained)]) == 2
    assert "nothing intact to resume from" in one_line(capsys)
