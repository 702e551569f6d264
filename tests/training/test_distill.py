"""Self-distillation: mixed targets, flip-averaged teacher maps, ``soft`` through batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saunet.errors import UserError
from saunet.inference.predictor import predict_batch
from saunet.models.checkpoint import load_model, read_checkpoint
from saunet.training import train
from saunet.training.distill import attach_teacher, mix_targets, teacher_maps
from saunet.utils.files import file_sha256


def test_mix_targets():
    label = torch.tensor([0.0, 1.0, 1.0, 0.0])
    teacher = torch.tensor([0.2, 0.6, 1.0, 0.0])
    assert torch.allclose(mix_targets(label, teacher, 0.5), torch.tensor([0.1, 0.8, 1.0, 0.0]))
    assert torch.equal(mix_targets(label, teacher, 1.0), teacher)
    assert mix_targets(label, teacher, 0.0) is label
    assert mix_targets(label, None, 0.5) is label


def test_teacher_maps_are_the_flip_averaged_probabilities(
    tiny_checkpoint, tmp_path, one_thread, random_data
):
    model, _ = load_model(tiny_checkpoint(tmp_path / "t.safetensors", seed=4))
    data = random_data(n_train=3, n_val=1, w=48)
    maps = teacher_maps(model, data.train, torch.device("cpu"), progress=False)
    assert maps.dtype == torch.uint8 and maps.shape == (3, 1, *data.train.size)
    images = [data.train.batch([i])["image"][0].permute(1, 2, 0).numpy() for i in range(3)]
    expected = predict_batch(model, images, tta=True, channels_last=False)
    assert np.abs(maps[:, 0].numpy() / 255.0 - expected).max() <= 0.5 / 255 + 1e-6


def test_soft_maps_follow_whole_images_and_patches(random_data):
    for patch in (None, 16):
        data = random_data(patch, n_train=3, n_val=1, w=48)
        # A "teacher" equal to the red channel shows whether the crops stay aligned.
        data.train.tensors["soft"] = data.train.tensors["image"][:, :1].clone()
        for batch in data.epoch_batches(0, batch_size=4):
            assert batch["soft"].shape == batch["label"].shape
            assert torch.equal(batch["soft"], batch["image"][:, :1])
            assert batch["soft"].dtype == torch.float32 and batch["soft"].max() <= 1.0


def test_attach_teacher_names_a_missing_file(tmp_path, random_data):
    with pytest.raises(UserError, match="distill_from"):
        attach_teacher(str(tmp_path / "nope.safetensors"), random_data().train, torch.device("cpu"))


def test_a_distilled_run_trains_on_mixed_targets(
    tiny_dataset, tiny_config, tiny_checkpoint, tmp_path, monkeypatch, one_thread
):
    import saunet.training.loop as loop

    teacher = tiny_checkpoint(tmp_path / "teacher.safetensors", channels=(4, 8, 16), seed=2)
    targets = []
    real_loss = loop.loss_fn

    def spy(name, logits, target):
        targets.append(target.detach().clone())
        return real_loss(name, logits, target)

    monkeypatch.setattr(loop, "loss_fn", spy)
    cfg = tiny_config(tiny_dataset, epochs=1, distill_from=str(teacher), distill_weight=0.5)
    train(cfg, tmp_path / "run", progress=False, evaluate_test=False)
    _, meta = read_checkpoint(tmp_path / "run" / "best.safetensors")
    assert meta["distill"] == {"spec": str(teacher), "file": "teacher.safetensors",
                               "sha256": file_sha256(teacher), "weight": 0.5}  # fmt: skip
    # Labels are 0/1; a half-weight teacher puts every target strictly between 0 and 1
    # except where the label and the teacher agree exactly.
    values = torch.cat([t.flatten() for t in targets])
    assert ((values > 0) & (values < 1)).float().mean() > 0.5


def test_distill_weight_is_checked(tiny_dataset, tiny_config):
    with pytest.raises(UserError, match="distill_weight"):
        tiny_config(tiny_dataset, distill_weight=1.5)
