"""Weight interpolation between a fine-tuning run's starting weights and its result.

Beyond the paper. A run started from existing weights (``train.init_weights``) ends in
the same loss basin it began in, so the straight line between the two weight vectors
stays low-loss and a point on it can generalise better than either end ("WiSE-FT",
Wortsman et al., CVPR 2022; "model soups", ICML 2022). :func:`interpolate_states` is the
arithmetic; :func:`score_interpolations` scores points of the line on held-out images,
so the mixing coefficient is chosen on validation data, never on the test split.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["interpolate_states", "score_interpolations", "fov_auc", "state_fov_auc"]

log = logging.getLogger(__name__)


def interpolate_states(
    start: Mapping[str, torch.Tensor], end: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * start + alpha * end`` for every floating-point tensor.

    ``alpha = 0`` gives ``start``, ``alpha = 1`` gives ``end``; values outside [0, 1]
    extrapolate and are refused. Non-float tensors (BatchNorm's ``num_batches_tracked``)
    are taken from ``end``. BatchNorm running statistics are interpolated like weights,
    which is what the soups papers do for networks fine-tuned from one another. Both
    state dicts must have the same keys and shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if set(start) != set(end):
        diff = sorted(set(start) ^ set(end))
        raise ValueError(f"state dicts differ in their keys, e.g. {diff[:3]}")
    out = {}
    for k, b in end.items():
        a = start[k]
        if a.shape != b.shape:
            raise ValueError(f"{k}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
        if b.is_floating_point():
            mixed = a.double() * (1.0 - alpha) + b.double() * alpha
            out[k] = mixed.to(b.dtype)
        else:
            out[k] = b.clone()
    return out


def fov_auc(probs: Sequence[np.ndarray], samples: Sequence[dict]) -> float:
    """ROC AUC of pooled probabilities inside the FOV masks (the training loop's
    ``val_auc``). ``probs[i]``: ``(H, W)``; ``samples[i]`` has ``label`` and ``fov``."""
    from saunet.evaluation.metrics import roc_auc

    p = np.concatenate([m[np.asarray(s["fov"], bool)] for m, s in zip(probs, samples, strict=True)])
    t = np.concatenate([np.asarray(s["label"], bool)[np.asarray(s["fov"], bool)] for s in samples])
    return float(roc_auc(p, t))


def state_fov_auc(
    model: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    samples: Sequence[dict],
    *,
    pad_to: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    amp_dtype: Any = None,
) -> float:
    """FOV AUC (:func:`fov_auc`) of ``model`` with the weights ``state`` on ``samples``.

    ``model``: a network of the right architecture; its weights are overwritten and it is
    left in eval mode. ``samples``: dataset samples (``image``, ``label``, ``fov``).
    """
    from saunet.inference.predictor import predict_probabilities

    model.load_state_dict(state)
    model.to(device).eval()
    probs = [
        predict_probabilities(model, s["image"], pad_to=pad_to, device=device, amp_dtype=amp_dtype)
        for s in samples
    ]
    return fov_auc(probs, samples)


def score_interpolations(
    model: torch.nn.Module,
    start: Mapping[str, torch.Tensor],
    end: Mapping[str, torch.Tensor],
    alphas: Sequence[float],
    val_samples: Sequence[dict],
    *,
    pad_to: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    amp_dtype: Any = None,
) -> list[tuple[float, float]]:
    """Validation FOV AUC of the network at each ``alpha`` on the start-end line.

    ``model``: a network of the right architecture (its weights are overwritten and it is
    left in eval mode); ``start``/``end``: its state dicts; ``val_samples``: dataset
    samples (``image``, ``label``, ``fov``) held out from training. Returns
    ``[(alpha, auc), ...]`` in the order of ``alphas``.
    """
    rows = []
    for alpha in alphas:
        auc = state_fov_auc(
            model, interpolate_states(start, end, alpha), val_samples,
            pad_to=pad_to, device=device, amp_dtype=amp_dtype,
        )  # fmt: skip
        rows.append((float(alpha), auc))
        log.info("alpha %.3f: validation FOV AUC %.5f", *rows[-1])
    return rows
