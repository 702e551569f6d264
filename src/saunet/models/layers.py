"""Building blocks of SA-UNet (paper Sec. II): DropBlock, conv blocks, spatial attention, up-block.

Every network of the paper's ablation (Table IV) is a composition of these blocks; see
:mod:`saunet.models.unet` for the composition and the registry.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "drop_block_2d",
    "DropBlock2d",
    "ConvBlock",
    "DoubleConv",
    "SpatialAttention",
    "UpBlock",
    "keras_init_",
]


def drop_block_2d(
    x: torch.Tensor, drop_prob: float, block_size: int, training: bool = True
) -> torch.Tensor:
    """DropBlock (Ghiasi et al., NeurIPS 2018), as in the SA-UNet authors' release.

    Args:
        x: feature map, shape ``(N, C, H, W)``.
        drop_prob: target fraction of dropped units, ``1 - keep_prob`` in the paper's terms
            (0.18 for DRIVE, 0.13 for CHASE_DB1).
        block_size: side of the square blocks that are zeroed (the paper uses 7). It is
            clamped to ``min(H, W)`` so deep, small feature maps still work.
        training: identity when ``False``.

    Returns:
        Tensor of the same shape: ``x * mask * numel(mask) / sum(mask)``.

    Seeds are drawn with rate
    ``gamma = drop_prob / block_size**2 * H*W / ((H - block_size + 1) * (W - block_size + 1))``
    only where a whole block fits (the "valid seed region" correction), independently for
    every sample and channel; each seed is grown into a ``block_size`` square by max
    pooling. The rescaling uses the kept fraction of the whole batch tensor, like the
    authors' code, so the expected activation is unchanged.
    """
    if not training or drop_prob <= 0.0:
        return x
    if not 0.0 <= drop_prob < 1.0:
        raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
    n, c, h, w = x.shape
    bs = min(block_size, h, w)
    gamma = drop_prob / (bs * bs) * (h * w) / ((h - bs + 1) * (w - bs + 1))
    # Seeds only where a whole block fits (the valid seed region); growing each seed into
    # a bs x bs block ("full" dilation) brings the map back to exactly H x W.
    seeds = _bernoulli_mask((n, c, h - bs + 1, w - bs + 1), gamma, x.device)
    blocks = _dilate(_dilate(seeds, bs, dim=2), bs, dim=3)
    scale = blocks.numel() / max(blocks.numel() - int(blocks.count_nonzero()), 1)
    mask = (~blocks).to(x.dtype).mul_(scale)  # no grad flows through the mask
    return x * mask


def _bernoulli_mask(shape: tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Boolean tensor whose elements are True with probability ``p``, independently.

    For the sparse seed rates of DropBlock (``p`` ~ 0.004) drawing the number of seeds
    from Binomial(numel, p) and their positions uniformly is 10-30x cheaper than one
    uniform draw per element, which dominated the training step on CPU. Positions are
    drawn with replacement; coinciding positions (expected ``k^2 / (2 numel)``, 0.1% of
    seeds at the paper's rates) merge into one seed.
    """
    numel = math.prod(shape)
    mask = torch.zeros(numel, dtype=torch.bool, device=device)
    if p >= 0.05:  # dense regime: the direct draw is as cheap
        return torch.rand(shape, device=device) < p
    k = int(torch.binomial(torch.tensor(float(numel)), torch.tensor(float(p))).item())
    if k:
        mask[torch.randint(numel, (k,), device=device)] = True
    return mask.view(shape)


def _dilate(mask: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Boolean "full" dilation by a length-``k`` window along ``dim`` (length L -> L+k-1).

    ``out[i] = any(mask[i-k+1 : i+1])``. Uses log2(k) shifted ORs instead of a k-wide
    max-pool: on a 2-core CPU this is ~20x faster than ``F.max_pool2d`` on float seeds,
    which made DropBlock cost more than the convolutions.
    """
    shape = list(mask.shape)
    shape[dim] = k - 1
    zeros = mask.new_zeros(shape)
    acc = torch.cat([zeros, mask, zeros], dim=dim)
    span = 1
    while span < k:
        step = min(span, k - span)
        length = acc.shape[dim]
        acc = acc.narrow(dim, 0, length - step) | acc.narrow(dim, step, length - step)
        span += step
    return acc


class DropBlock2d(nn.Module):
    """Module wrapper of :func:`drop_block_2d`; identity in eval mode and at ``drop_prob=0``."""

    def __init__(self, drop_prob: float = 0.18, block_size: int = 7) -> None:
        super().__init__()
        self.drop_prob = drop_prob
        self.block_size = block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_block_2d(x, self.drop_prob, self.block_size, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}, block_size={self.block_size}"


class ConvBlock(nn.Sequential):
    """Conv3x3 -> [DropBlock] -> [BatchNorm] -> ReLU (paper Fig. 3).

    * plain U-Net block: ``drop_prob=None, batch_norm=False``
    * SD-Unet block: ``drop_prob>0, batch_norm=False``
    * structured dropout block (SA-UNet): ``drop_prob>0, batch_norm=True``

    ``drop_prob=None`` leaves the DropBlock layer out; a number keeps it, even 0 (where it
    is the identity, as in eval mode), so a DropBlock network has one state-dict layout
    whatever its probability and a run can fine-tune one with DropBlock switched off.

    BatchNorm uses Keras' defaults (``momentum=0.99`` there, i.e. PyTorch ``momentum=0.01``;
    ``eps=1e-3``), as in the authors' code.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        drop_prob: float | None = None,
        block_size: int = 7,
        batch_norm: bool = False,
        bn_momentum: float = 0.01,
        bn_eps: float = 1e-3,
    ) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=True)]
        if drop_prob is not None:
            layers.append(DropBlock2d(drop_prob, block_size))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SpatialAttention(nn.Module):
    """Spatial attention module (paper Sec. II-C, Eq. 4; CBAM's SAM).

    ``F_s = F * sigmoid(conv7x7([mean_c(F); max_c(F)]))``: a 2->1 channel 7x7 convolution
    without bias, i.e. 98 weights. The authors' code concatenates mean before max (the
    paper writes max first); we follow the code so its weights map one-to-one.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The gate ``M_s(F)`` in (0, 1), shape ``(N, 1, H, W)``."""
        descriptor = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(descriptor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention_map(x)


class DoubleConv(nn.Module):
    """Two :class:`ConvBlock` s, with optional spatial attention between them.

    The authors' release places the attention module inside the bottleneck, between its
    two convolutions; the paper's Fig. 1 draws it between encoder and decoder.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, attention: bool = False, **block_kw
    ) -> None:
        super().__init__()
        self.conv1 = ConvBlock(in_channels, out_channels, **block_kw)
        self.attention = SpatialAttention() if attention else nn.Identity()
        self.conv2 = ConvBlock(out_channels, out_channels, **block_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.attention(self.conv1(x)))


class UpBlock(nn.Module):
    """Decoder step: 3x3 stride-2 transposed conv, concatenation with the skip, DoubleConv.

    The paper's text names a 2x2 transposed convolution; the authors' code (and Table IV's
    parameter counts) use a 3x3 kernel with ``padding="same"``, which is
    ``padding=1, output_padding=1`` here.

    Shapes: ``x (N, C_in, H, W)``, ``skip (N, C_out, 2H, 2W)`` -> ``(N, C_out, 2H, 2W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, **block_kw) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(
            in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=True
        )
        self.conv = DoubleConv(2 * out_channels, out_channels, **block_kw)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


def keras_init_(module: nn.Module) -> None:
    """Keras default initialisation, as in the authors' code.

    Glorot-uniform kernels and zero biases for (transposed) convolutions; He-normal for the
    spatial-attention convolution. PyTorch's defaults (Kaiming-uniform with a=sqrt(5)) train
    too, but this keeps the starting point of the reproduction faithful.
    """
    for m in module.modules():
        if isinstance(m, SpatialAttention):
            fan_in = m.conv.in_channels * math.prod(m.conv.kernel_size)
            nn.init.normal_(m.conv.weight, 0.0, math.sqrt(2.0 / fan_in))
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and not _is_attention_conv(module, m):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _is_attention_conv(root: nn.Module, conv: nn.Module) -> bool:
    return any(isinstance(m, SpatialAttention) and m.conv is conv for m in root.modules())
