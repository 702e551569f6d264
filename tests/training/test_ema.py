import pytest
import torch

from saunet.config import RunConfig
from saunet.errors import UserError
from saunet.models.checkpoint import read_checkpoint
from saunet.training import train
from saunet.training.ema import ema_decay_at, ema_update_, make_ema


def test_decay_ramps_up_then_is_capped():
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(8, 0.999) == pytest.approx(0.5)
    assert ema_decay_at(10**6, 0.999) == 0.999
    assert ema_decay_at(10**6, 0.0) == 0.0
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        ema_decay_at(0, 1.0)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))


def test_update_moves_floats_towards_the_model_and_copies_counters():
    model = _net()
    ema = make_ema(model)
    assert not any(p.requires_grad for p in ema.parameters()) and not ema.training
    start = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()(torch.randn(4, 1, 8, 8))  # moves BN running stats and the counter
    ema_update_(ema, model, decay=0.75)
    new, target = ema.state_dict(), model.state_dict()
    for k, v in new.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.75 * start[k] + 0.25 * target[k])
        else:
            assert torch.equal(v, target[k]), k
    ema_update_(ema, model, decay=0.0)
    for k, v in ema.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_run_saves_the_average_as_best_and_both_in_last(tiny_dataset, tiny_config, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_dataset, ema_decay=0.9, save_every=1), run, progress=False,
          evaluate_test=False)  # fmt: skip
    last, _ = read_checkpoint(run / "last.safetensors")
    snap, _ = read_checkpoint(run / "checkpoints" / "epoch0002.safetensors")
    ema = {k[4:]: v for k, v in last.items() if k.startswith("ema.")}
    raw = {k[6:]: v for k, v in last.items() if k.startswith("model.")}
    assert ema and ema.keys() == raw.keys()
    # the epoch snapshot is the average, and the average is not the raw weights
    assert all(torch.equal(snap[f"model.{k}"], v) for k, v in ema.items())
    assert any(not torch.equal(ema[k], raw[k]) for k in ema if ema[k].is_floating_point())


def test_resumed_ema_run_equals_uninterrupted(tiny_dataset, tiny_config, tmp_path):
    import yaml

    full, part = tmp_path / "full", tmp_path / "part"
    train(tiny_config(tiny_dataset, epochs=3, ema_decay=0.9), full, progress=False,
          evaluate_test=False)  # fmt: skip
    train(tiny_config(tiny_dataset, epochs=3, ema_decay=0.9, max_minutes=0.0), part,
          progress=False, evaluate_test=False)  # fmt: skip
    cfg = yaml.safe_load((part / "config.yaml").read_text())
    cfg["train"]["max_minutes"] = None
    (part / "config.yaml").write_text(yaml.safe_dump(cfg))
    train(None, part, resume=True, progress=False, evaluate_test=False)
    a, _ = read_checkpoint(full / "last.safetensors")
    b, _ = read_checkpoint(part / "last.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("ema.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_config_rejects_a_decay_outside_0_1():
    with pytest.raises(UserError, match="ema_decay must be in"):
        RunConfig.from_dict({"train": {"ema_decay": 1.0}})
