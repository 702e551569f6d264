"""Weight soups: one network whose weights are the average of several fine-tuning runs.

Beyond the paper. Networks fine-tuned from the same starting weights stay in one loss
basin, so the average of their weights is itself a good network, often better than any
one of them ("model soups", Wortsman et al., ICML 2022). Unlike an ensemble it costs a
single forward pass and ships as one file.

:func:`average_states` is the arithmetic and :func:`greedy_soup` the paper's greedy
recipe. The score is injected (a callable on a state dict), so the choice is made on
held-out validation images and this module never sees a dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["SOUP_RECIPES", "average_states", "greedy_soup", "uniform_soup", "SoupResult"]

log = logging.getLogger(__name__)

SOUP_RECIPES = ("greedy", "uniform")

State = Mapping[str, torch.Tensor]


def average_states(
    states: Sequence[State], weights: Sequence[float] | None = None
) -> dict[str, torch.Tensor]:
    """Weighted mean ``sum_i w_i * states[i] / sum_i w_i`` of every floating-point tensor.

    ``weights`` default to equal. BatchNorm running statistics are averaged like weights
    (as the soups paper does for networks fine-tuned from one start); non-float tensors
    (``num_batches_tracked``) are taken from the first state. Sums run in float64 and are
    cast back to each tensor's dtype. Raises ``ValueError`` on an empty list, negative or
    all-zero weights, or states whose keys or shapes differ.
    """
    if not states:
        raise ValueError("no states to average")
    w = [1.0] * len(states) if weights is None else [float(x) for x in weights]
    if len(w) != len(states):
        raise ValueError(f"{len(w)} weights for {len(states)} states")
    if min(w) < 0 or sum(w) <= 0:
        raise ValueError(f"weights must be >= 0 and not all zero, got {w}")
    first = states[0]
    for i, s in enumerate(states[1:], start=1):
        if set(s) != set(first):
            diff = sorted(set(s) ^ set(first))
            raise ValueError(f"state {i} differs from state 0 in its keys, e.g. {diff[:3]}")
        for k, v in s.items():
            if v.shape != first[k].shape:
                raise ValueError(
                    f"state {i}, {k}: shape {tuple(v.shape)} vs {tuple(first[k].shape)}"
                )
    total = sum(w)
    out = {}
    for k, ref in first.items():
        if ref.is_floating_point():
            acc = sum(s[k].double() * (wi / total) for s, wi in zip(states, w, strict=True))
            out[k] = acc.to(ref.dtype)
        else:
            out[k] = ref.clone()
    return out


@dataclass
class SoupResult:
    """What a soup recipe chose.

    Attributes:
        chosen: indices into the ingredient list, in the order they joined the soup.
        score: the chosen soup's score (None for a soup fixed without scoring, e.g. of
            runs that held out no validation images).
        solo: each ingredient's own score, by index (None entries likewise).
        steps: ``(index, score of the soup with it, accepted)`` for every ingredient the
            recipe tried after the first, in the order tried.
    """

    chosen: list[int]
    score: float | None
    solo: list[float | None]
    steps: list[tuple[int, float, bool]] = field(default_factory=list)


def uniform_soup(states: Sequence[State], score: Callable[[State], float]) -> SoupResult:
    """Every ingredient, equally weighted; each ingredient is scored too, for the record."""
    solo = [score(s) for s in states]
    return SoupResult(list(range(len(states))), score(average_states(states)), solo)


def greedy_soup(states: Sequence[State], score: Callable[[State], float]) -> SoupResult:
    """The greedy soup (Wortsman et al. 2022, Recipe 1).

    Ingredients are sorted by their own score, best first; the soup starts as the best
    one, and each next ingredient joins if the uniform average with it scores at least as
    well as the soup without it. The result is never worse (on the score) than the best
    single ingredient. Ties in the sort keep the input order.
    """
    solo = [score(s) for s in states]
    order = sorted(range(len(states)), key=lambda i: -solo[i])
    chosen, best = [order[0]], solo[order[0]]
    steps = []
    for i in order[1:]:
        trial = score(average_states([states[j] for j in [*chosen, i]]))
        accepted = trial >= best
        steps.append((i, trial, accepted))
        log.info("soup + ingredient %d: %.6f (%s)", i, trial, "kept" if accepted else "dropped")
        if accepted:
            chosen.append(i)
            best = trial
    return SoupResult(chosen, best, solo, steps)
