"""Exponential moving average (EMA) of the weights, an option beyond the paper.

With ``train.ema_decay`` set, the run keeps a second copy of the network whose floating
point tensors (weights and BatchNorm running statistics) follow the trained ones::

    ema = decay_t * ema + (1 - decay_t) * weights      after every optimizer step

The average is what gets validated, selected and saved as ``best.safetensors``: it
smooths out the noise of the last steps of a small-batch, heavily augmented run.
``decay_t = min(decay, (1 + t) / (10 + t))`` after ``t`` steps, so the average does not
start out dominated by the random (or fine-tuning source's) initial weights. Integer
buffers (BatchNorm's ``num_batches_tracked``) are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch


def ema_decay_at(step: int, decay: float) -> float:
    """Decay used for the update after ``step`` (0-based) optimizer steps.

    Ramps up as ``(1 + step) / (10 + step)``: 0.1 at step 0, 0.5 at step 8, 0.9 at step
    80, and is capped at ``decay``.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"ema decay must be in [0, 1), got {decay}")
    return min(decay, (1 + step) / (10 + step))


def make_ema(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of ``model`` (unwrapped from DistributedDataParallel) in eval mode."""
    ema = copy.deepcopy(getattr(model, "module", model)).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update_(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Move ``ema`` towards ``model`` in place: ``ema += (1 - decay) * (model - ema)``.

    Both networks must have the same state-dict keys; floating point tensors are averaged,
    the others copied.
    """
    source = getattr(model, "module", model).state_dict()
    for key, e in ema.state_dict().items():
        m = source[key].detach()
        if e.is_floating_point():
            e.lerp_(m.to(e.dtype), 1.0 - decay)
        else:
            e.copy_(m)
