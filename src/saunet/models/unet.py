"""One configurable U-Net that covers every model of the SA-UNet ablation (paper Table IV).

``UNet(ModelConfig(...))`` composes the blocks of :mod:`saunet.models.layers`; the registry
maps the paper's rows to configurations:

=============  =====================================  ============  ================
name           paper row                              trainable     BN running stats
=============  =====================================  ============  ================
``unet``       23-layer U-Net (16..256)               2,158,705     0
``unet18``     18-layer U-Net (16..128)               535,793       0
``unet18-sa``  U-Net + SA                             535,891       0
``sd-unet``    SD-Unet (U-Net + DropBlock)            535,793       0
``backbone``   Backbone (SD-Unet + BN)                537,201       1,408
``sa-unet``    SA-UNet (Backbone + SA)                537,299       1,408
=============  =====================================  ============  ================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from saunet.models.layers import DoubleConv, UpBlock, keras_init_

__all__ = ["ModelConfig", "UNet", "MODEL_REGISTRY", "build_model", "model_names"]


@dataclass
class ModelConfig:
    """Everything needed to rebuild a network; stored in every checkpoint.

    Attributes:
        name: registry name this config came from (informational).
        in_channels: image channels (RGB divided by 255, as in the authors' code).
        channels: feature channels per encoder level; the last entry is the bottleneck.
        dropblock: whether the conv blocks carry DropBlock (SD-Unet, Backbone, SA-UNet).
        drop_prob: DropBlock drop probability, ``1 - keep_prob`` of the paper
            (0.18 DRIVE, 0.13 CHASE_DB1); ignored when ``dropblock`` is False, so one
            recipe's rate can be applied to every model of the ablation.
        block_size: DropBlock block size (paper: 7).
        batch_norm: BatchNorm after each DropBlock (the "structured dropout" block).
        attention: spatial attention inside the bottleneck.
        bn_momentum, bn_eps: BatchNorm settings in PyTorch terms (Keras 0.99 -> 0.01).
        keras_init: Glorot-uniform / He-normal initialisation like the authors' Keras code.
    """

    name: str = "sa-unet"
    in_channels: int = 3
    channels: tuple[int, ...] = (16, 32, 64, 128)
    dropblock: bool = True
    drop_prob: float = 0.18
    block_size: int = 7
    batch_norm: bool = True
    attention: bool = True
    bn_momentum: float = 0.01
    bn_eps: float = 1e-3
    keras_init: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(int(c) for c in d["channels"])
        return cls(**d)


class UNet(nn.Module):
    """U-Net family of the paper (Sec. II, Fig. 1). Returns logits.

    Input ``(N, in_channels, H, W)`` of any H and W: the forward pass zero-pads to a multiple
    of ``self.divisor`` (``2 ** number_of_poolings``, 8 for the 18-layer models) and crops
    the output back, so a 584x565 DRIVE image works directly. Output ``(N, 1, H, W)``
    logits; apply ``torch.sigmoid`` for vessel probabilities.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        block_kw = dict(
            drop_prob=config.drop_prob if config.dropblock else None,
            block_size=config.block_size,
            batch_norm=config.batch_norm,
            bn_momentum=config.bn_momentum,
            bn_eps=config.bn_eps,
        )
        *enc_channels, bottleneck = config.channels
        self.encoder = nn.ModuleList()
        prev = config.in_channels
        for ch in enc_channels:
            self.encoder.append(DoubleConv(prev, ch, **block_kw))
            prev = ch
        self.bottleneck = DoubleConv(prev, bottleneck, attention=config.attention, **block_kw)
        self.decoder = nn.ModuleList()
        prev = bottleneck
        for ch in reversed(enc_channels):
            self.decoder.append(UpBlock(prev, ch, **block_kw))
            prev = ch
        self.head = nn.Conv2d(prev, 1, kernel_size=1, bias=True)
        if config.keras_init:
            keras_init_(self)

    @property
    def divisor(self) -> int:
        """Input sides must be multiples of this; :meth:`forward` pads automatically."""
        return 2 ** len(self.encoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x, crop = pad_to_multiple(x, self.divisor)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, skip in zip(self.decoder, reversed(skips), strict=True):
            x = up(x, skip)
        logits = self.head(x)
        top, left = crop
        return logits[..., top : top + h, left : left + w]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad ``(..., H, W)`` symmetrically up to multiples of ``multiple``.

    Returns the padded tensor and the ``(top, left)`` offset of the original inside it.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (0, 0)
    top, left = ph // 2, pw // 2
    return F.pad(x, (left, pw - left, top, ph - top)), (top, left)


# name -> (paper row, config overrides). The ablation variants are configurations of one
# network; nothing else differs between them.
MODEL_REGISTRY: dict[str, tuple[str, dict[str, Any]]] = {
    "unet": (
        "23-layer U-Net",
        dict(channels=(16, 32, 64, 128, 256), dropblock=False, batch_norm=False, attention=False),
    ),
    "unet18": ("18-layer U-Net", dict(dropblock=False, batch_norm=False, attention=False)),
    "unet18-sa": ("U-Net + SA", dict(dropblock=False, batch_norm=False, attention=True)),
    "sd-unet": ("SD-Unet", dict(dropblock=True, batch_norm=False, attention=False)),
    "backbone": ("Backbone", dict(dropblock=True, batch_norm=True, attention=False)),
    "sa-unet": ("SA-UNet", dict(dropblock=True, batch_norm=True, attention=True)),
}


def model_names() -> list[str]:
    return list(MODEL_REGISTRY)


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a registry model, with ``overrides`` applied."""
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_REGISTRY)}")
    _, preset = MODEL_REGISTRY[name]
    kw: dict[str, Any] = {**preset, **overrides, "name": name}
    if "channels" in kw:
        kw["channels"] = tuple(kw["channels"])
    return ModelConfig(**kw)


def build_model(name: str = "sa-unet", **overrides: Any) -> UNet:
    """Build a registry model, e.g. ``build_model("sa-unet", drop_prob=0.13)``."""
    return UNet(model_config(name, **overrides))


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, BatchNorm running statistics)``, the two columns of Table IV."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    running = sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))
    )
    return trainable, running
