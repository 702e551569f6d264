"""BatchNorm folding (saunet.inference.fast) must not change the network's output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saunet.inference.fast import fold_batchnorm, fold_conv_bn
from saunet.models import build_model


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
                m.weight.copy_(torch.randn(n, generator=g))
                m.bias.copy_(torch.randn(n, generator=g) * 0.3)


@pytest.mark.parametrize("name", ["sa-unet", "backbone", "unet18"])
def test_fold_batchnorm_same_logits(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    _randomise_bn(model)
    folded = fold_batchnorm(model)
    x = torch.rand(2, 3, 60, 44)  # not a multiple of 8: padding path too
    with torch.inference_mode():
        ref, out = model(x), folded(x)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-5, rtol=0)


def test_fold_batchnorm_removes_bn_and_dropblock_and_keeps_original() -> None:
    model = build_model("sa-unet").train()
    folded = fold_batchnorm(model)
    kinds = {type(m).__name__ for m in folded.modules()}
    assert "BatchNorm2d" not in kinds and "DropBlock2d" not in kinds
    assert not folded.training
    assert model.training  # the input model is untouched
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in folded.modules()) == n_conv


def test_fold_conv_bn_without_conv_bias() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    bn = nn.BatchNorm2d(6, eps=1e-3).eval()
    _randomise_bn(nn.Sequential(bn), seed=1)
    x = torch.randn(1, 4, 9, 7)
    with torch.no_grad():
        assert torch.allclose(fold_conv_bn(conv, bn)(x), bn(conv(x)), atol=1e-5, rtol=0)
