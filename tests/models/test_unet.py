import pytest
import torch

from saunet import build_model, count_parameters
from saunet.models import MODEL_REGISTRY, ModelConfig, UNet, model_config, pad_to_multiple
from saunet.models.profile import forward_flops, model_table

EXPECTED = {
    "unet": (2_158_705, 0),
    "unet18": (535_793, 0),
    "unet18-sa": (535_891, 0),
    "sd-unet": (535_793, 0),
    "backbone": (537_201, 1_408),
    "sa-unet": (537_299, 1_408),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_parameter_counts_match_paper_table_iv(name):
    assert count_parameters(build_model(name)) == EXPECTED[name]


def test_registry_is_exactly_the_ablation():
    assert set(MODEL_REGISTRY) == set(EXPECTED)


@pytest.mark.parametrize("name", ["unet", "sa-unet", "sd-unet"])
@pytest.mark.parametrize("size", [(37, 53), (64, 64), (61, 45)])
def test_forward_backward_on_odd_sizes(name, size):
    model = build_model(name, drop_prob=0.1) if name != "unet" else build_model(name)
    x = torch.rand(2, 3, *size, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 1, *size)
    y.mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_drive_size_works():
    model = build_model("sa-unet").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 584, 565)).shape == (1, 1, 584, 565)


def test_eval_mode_is_deterministic_and_train_mode_is_not():
    torch.manual_seed(0)
    model = build_model("sa-unet")
    x = torch.rand(1, 3, 64, 64)
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a, b)  # DropBlock is active
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_returns_logits_not_probabilities():
    model = build_model("unet18").eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 32, 32) * 50)
    assert (y < 0).any() or (y > 1).any()


def test_config_round_trip_rebuilds_same_network():
    cfg = model_config("sa-unet", drop_prob=0.13)
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert count_parameters(UNet(again)) == EXPECTED["sa-unet"]
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"bogus": 1})


def test_pad_to_multiple_offsets():
    x = torch.ones(1, 1, 5, 8)
    y, (top, left) = pad_to_multiple(x, 8)
    assert y.shape[-2:] == (8, 8) and (top, left) == (1, 0)
    assert torch.equal(y[..., top : top + 5, left : left + 8], x)


def test_flops_and_table():
    flops = forward_flops(build_model("sa-unet"), (592, 592))
    assert 25e9 < flops < 27.5e9
    table = model_table((64, 64))
    assert "537,299" in table and "2,158,705" in table


def test_recipe_drop_rate_does_not_add_dropblock_to_plain_unets():
    from saunet.models import DropBlock2d

    for name in ("unet", "unet18", "unet18-sa"):
        model = build_model(name, drop_prob=0.18)
        assert not any(isinstance(m, DropBlock2d) for m in model.modules()), name
    sd = build_model("sd-unet", drop_prob=0.13)
    drops = [m for m in sd.modules() if isinstance(m, DropBlock2d)]
    assert drops and all(m.drop_prob == 0.13 for m in drops)
