"""Parameter and FLOP counts of the registry models (paper Table IV)."""

from __future__ import annotations

import torch
from torch import nn

from saunet.models.unet import MODEL_REGISTRY, build_model, count_parameters
from saunet.paper import PAPER_ROWS


def forward_flops(model: nn.Module, size: tuple[int, int] = (592, 592)) -> int:
    """Multiply-add FLOPs (2 per MAC) of convolutions in one forward pass of ``1x3xHxW``.

    Only (transposed) convolutions are counted; they are >99% of the work. The count is
    exact for the padded size the network actually processes.
    """
    total = 0

    def conv_hook(m: nn.Module, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        k = m.weight.shape[2] * m.weight.shape[3]
        if isinstance(m, nn.ConvTranspose2d):
            # each input pixel scatters C_out*k values
            total += 2 * inp[0].numel() * m.out_channels * k
        else:
            total += 2 * out.numel() * m.in_channels // m.groups * k

    hooks = [
        m.register_forward_hook(conv_hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def model_table(size: tuple[int, int] = (592, 592)) -> str:
    """Markdown table of every registry model: parameters (ours and the paper's), GFLOPs."""
    rows = [
        f"| name | paper row | trainable | BN running stats | paper (trainable / non-trainable) | GFLOPs @ {size[0]}x{size[1]} |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, (paper_row, _) in MODEL_REGISTRY.items():
        model = build_model(name)
        trainable, running = count_parameters(model)
        pt, pn = PAPER_ROWS[name]
        gflops = forward_flops(model, size) / 1e9
        rows.append(
            f"| `{name}` | {paper_row} | {trainable:,} | {running:,} | {pt:,} / {pn:,} | {gflops:.1f} |"
        )
    return "\n".join(rows)
