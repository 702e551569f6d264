"""Inference-only rewrites of a trained network for faster CPU prediction.

:func:`fold_batchnorm` folds every eval-mode ``Conv2d -> [DropBlock] -> BatchNorm2d`` of
the SA-UNet blocks into the convolution: DropBlock is the identity at inference and
BatchNorm with frozen statistics is an affine map per channel, so

    w' = w * g,   b' = (b - mean) * g + beta,   g = gamma / sqrt(var + eps)

gives the same logits (up to float rounding) with one pass over each feature map fewer.
The result is for prediction only: it has no BatchNorm or DropBlock left to train.

:func:`compile_for_inference` wraps a network in ``torch.compile`` (inductor, weights frozen
as constants, dynamic shapes): the fastest CPU forward pass measured, at the price of a
compilation of ~8-25 s on its first call and a C++ compiler on the machine.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from saunet.models.layers import DropBlock2d

__all__ = ["compile_for_inference", "fold_batchnorm", "fold_conv_bn"]


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new ``Conv2d`` computing ``bn(conv(x))`` with ``bn``'s running statistics."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be folded")
    fused = copy.deepcopy(conv)
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
    g = gamma / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight.copy_(conv.weight * g.reshape(-1, 1, 1, 1))
    fused.bias = nn.Parameter((bias - bn.running_mean) * g + beta)
    return fused


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Copy of ``model`` in eval mode with each conv's BatchNorm folded into it.

    Every ``nn.Sequential`` holding ``Conv2d``, optionally ``DropBlock2d`` s, then
    ``BatchNorm2d`` (the :class:`saunet.models.ConvBlock` layout) is rewritten to the folded
    ``Conv2d`` followed by the remaining layers; DropBlock and BatchNorm become
    ``nn.Identity``. ``model`` itself is not modified.
    """
    folded = copy.deepcopy(model).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        layers = list(seq)
        for i, conv in enumerate(layers):
            if not isinstance(conv, nn.Conv2d):
                continue
            j = i + 1
            while j < len(layers) and isinstance(layers[j], DropBlock2d):
                j += 1
            if j < len(layers) and isinstance(layers[j], nn.BatchNorm2d):
                seq[i] = fold_conv_bn(conv, layers[j])
                for k in range(i + 1, j + 1):
                    seq[k] = nn.Identity()
    return folded


def compile_for_inference(model: nn.Module) -> nn.Module:
    """``torch.compile`` for prediction: inductor with ``freezing`` and dynamic shapes.

    Freezing makes the weights constants so inductor can fold and prepack them for oneDNN;
    dynamic shapes compile once for every input size instead of once per size. Compilation
    happens on the first call (so do that call under ``torch.inference_mode``); it fails
    there, not here, when the machine has no working C++ compiler.
    """
    return torch.compile(model, dynamic=True, options={"freezing": True})
