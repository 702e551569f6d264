"""``saunet.models.checkpoint``: pickles refused by their first bytes (and only those),
one line for weights that do not fit, the sidecar written before its weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from saunet import build_model
from saunet.models.checkpoint import (
    CheckpointError,
    WeightsMismatch,
    fit_state_dict,
    read_checkpoint,
    save_checkpoint,
)
from saunet.utils import files


def test_a_safetensors_header_length_starting_like_a_pickle_is_still_read(tmp_path):
    # The header length is the file's first 8 bytes; pad the metadata until its first
    # byte is 0x80 (a pickle's first byte) and the second 0x02 (protocol 2).
    path = tmp_path / "w.safetensors"
    for pad in range(0, 1200):
        save_file(
            {"model.w": torch.zeros(2)}, path, metadata={"saunet": json.dumps({"p": "x" * pad})}
        )
        if path.read_bytes()[:2] == b"\x80\x02":
            break
    else:
        pytest.fail("no padding gave a header length starting with 0x80 0x02")
    tensors, meta = read_checkpoint(path)
    assert meta["p"] == "x" * pad and tensors["model.w"].shape == (2,)


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 7, b'\x10\x00\x00\x00\x00\x00\x00\x00{"a":', b"hello world!"]
)
def test_damaged_files_are_one_line_checkpoint_errors(tmp_path, content):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint") as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_weights_of_another_shape_name_the_first_misfit():
    small, big = build_model("sa-unet", channels=(4, 8, 16, 32)), build_model("sa-unet")
    with pytest.raises(WeightsMismatch, match=r"tensors have other shapes, e\.g\. .*\(4, 3, 3, 3\) in the file") as info:  # fmt: skip
        fit_state_dict(big, small.state_dict(), "w.safetensors", "sa-unet")
    assert "\n" not in str(info.value)
    unet = build_model("unet", channels=(4, 8, 16, 32))
    with pytest.raises(WeightsMismatch, match="missing"):
        fit_state_dict(small, unet.state_dict(), "w.safetensors", "sa-unet")
    fit_state_dict(big, build_model("sa-unet").state_dict(), "w.safetensors", "sa-unet")


def test_the_sidecar_is_written_before_the_weights(tmp_path, monkeypatch):
    order = []
    real = files.atomic_write

    def record(path, writer):
        order.append(path.name if hasattr(path, "name") else str(path))
        return real(path, writer)

    monkeypatch.setattr("saunet.models.checkpoint.atomic_write", record)
    monkeypatch.setattr(files, "atomic_write", record)
    save_checkpoint(tmp_path / "last.safetensors", {"model.w": torch.zeros(1)}, {"epoch": 3})
    assert order == ["last.json", "last.safetensors"]
    assert json.loads((tmp_path / "last.json").read_text())["epoch"] == 3
