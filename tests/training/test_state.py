"""Fine-tuning start (``train.init_weights``, saunet.training.state.init_from_weights)."""

from __future__ import annotations

import json

import pytest
import torch

from saunet import build_model
from saunet.errors import UserError
from saunet.training.loop import train
from saunet.training.state import init_from_weights


def test_init_copies_every_tensor_and_records_the_source(tmp_path, tiny_checkpoint):
    src = tiny_checkpoint(tmp_path / "src.safetensors", seed=1)
    torch.manual_seed(2)
    model = build_model("sa-unet", channels=(4, 8, 16, 32), drop_prob=0.3)
    meta = init_from_weights(model, str(src))
    from saunet.models.checkpoint import read_checkpoint

    tensors, _ = read_checkpoint(src)
    for k, v in model.state_dict().items():
        assert torch.equal(v, tensors[f"model.{k}"]), k
    assert meta["init_weights"]["file"] == "src.safetensors"
    assert len(meta["init_weights"]["sha256"]) == 64


def test_init_refuses_another_architecture(tmp_path, tiny_checkpoint):
    src = tiny_checkpoint(tmp_path / "src.safetensors", channels=(4, 8, 16, 32))
    model = build_model("sa-unet", channels=(8, 16, 32, 64))
    with pytest.raises(UserError, match="init_weights.*same model"):
        init_from_weights(model, str(src))


def test_init_names_a_missing_file(tmp_path):
    model = build_model("sa-unet", channels=(4, 8, 16, 32))
    with pytest.raises(UserError, match="nope.safetensors"):
        init_from_weights(model, str(tmp_path / "nope.safetensors"))


def test_fine_tuning_run_starts_from_the_weights(tmp_path, tiny_dataset, tiny_config):
    first = tmp_path / "first"
    train(tiny_config(tiny_dataset, epochs=1), first, evaluate_test=False, progress=False)
    cfg = tiny_config(tiny_dataset, epochs=1, lr=0.0, init_weights=str(first / "last.safetensors"))
    second = tmp_path / "second"
    train(cfg, second, evaluate_test=False, progress=False)
    from saunet.models.checkpoint import read_checkpoint

    a, _ = read_checkpoint(first / "last.safetensors")
    b, meta = read_checkpoint(second / "last.safetensors")
    # lr 0: the conv weights stay where fine-tuning started (BN running stats still move)
    convs = [k for k in b if k.startswith("model.") and k.endswith("conv.weight")]
    assert convs and all(torch.equal(a[k], b[k]) for k in convs)
    assert meta["init_weights"]["file"] == "last.safetensors"
    assert json.loads((second / "last.json").read_text())["init_weights"]["sha256"]


@pytest.mark.parametrize("publish", [False, True], ids=["last", "epoch-checkpoint"])
def test_run_state_round_trips_with_a_weight_average(tmp_path, publish):
    from saunet.models.checkpoint import read_checkpoint
    from saunet.training.ema import make_ema
    from saunet.training.state import load_run_state, save_run_state

    def parts(seed: int):
        torch.manual_seed(seed)
        model = build_model("sa-unet", channels=(4, 8, 16, 32))
        ema = make_ema(model)
        torch.nn.init.normal_(next(ema.parameters()))  # the average differs from the model
        opt = torch.optim.Adam(model.parameters())
        model(torch.rand(1, 3, 16, 16)).mean().backward()
        opt.step()
        return model, ema, opt

    model, ema, opt = parts(0)
    path = tmp_path / "s.safetensors"
    save_run_state(path, model, opt, {"epoch": 4}, ema=ema, publish_ema=publish)
    tensors, _ = read_checkpoint(path)
    evaluated = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    want = (ema if publish else model).state_dict()
    assert all(torch.equal(want[k], evaluated[k]) for k in want)  # what evaluation loads
    model2, ema2, opt2 = parts(1)
    assert load_run_state(path, model2, opt2, ema2)["epoch"] == 4
    for a, b in ((model, model2), (ema, ema2)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k
    assert torch.equal(
        opt.state_dict()["state"][0]["exp_avg"], opt2.state_dict()["state"][0]["exp_avg"]
    )
