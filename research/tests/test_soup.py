"""Weight soups (soup): averaging arithmetic, refusals, the greedy recipe."""

from __future__ import annotations

import pytest
import torch
from soup import average_states, greedy_soup, uniform_soup

from saunet import build_model


def _nets(n: int) -> list[dict]:
    states = []
    for seed in range(n):
        torch.manual_seed(seed)
        s = build_model("sa-unet", channels=(4, 8)).state_dict()
        for k in s:
            if k.endswith("num_batches_tracked"):
                s[k] = s[k] + seed
        states.append(s)
    return states


def test_mean_weighted_mean_and_counters():
    a, b, c = _nets(3)
    k = next(k for k in a if k.endswith("weight") and a[k].dim() == 4)
    torch.testing.assert_close(average_states([a, b, c])[k], (a[k] + b[k] + c[k]) / 3)
    torch.testing.assert_close(average_states([a, b], [3, 1])[k], 0.75 * a[k] + 0.25 * b[k])
    torch.testing.assert_close(average_states([a, b], [0, 1])[k], b[k])
    mean = average_states([a, b, c])
    bn = next(k for k in a if k.endswith("running_var"))
    torch.testing.assert_close(mean[bn], (a[bn] + b[bn] + c[bn]) / 3)
    counters = [k for k in a if k.endswith("num_batches_tracked")]
    assert counters and all(torch.equal(mean[k], a[k]) for k in counters)
    assert all(mean[k].dtype == a[k].dtype for k in a)


def test_one_state_is_itself():
    (a,) = _nets(1)
    assert all(torch.equal(average_states([a])[k], a[k]) for k in a)


def test_refusals():
    a, b = _nets(2)
    with pytest.raises(ValueError, match="no states"):
        average_states([])
    with pytest.raises(ValueError, match="weights"):
        average_states([a, b], [1])
    with pytest.raises(ValueError, match=">= 0"):
        average_states([a, b], [1, -1])
    with pytest.raises(ValueError, match="keys"):
        average_states([a, {k: v for k, v in b.items() if "bottleneck" not in k}])
    c = build_model("sa-unet", channels=(4, 16)).state_dict()
    with pytest.raises(ValueError, match="shape"):
        average_states([a, c])


def _scalar(x: float) -> dict:
    return {"w": torch.tensor([x], dtype=torch.float64)}


def _closeness(target: float):
    return lambda s: -abs(float(s["w"][0]) - target)


def test_greedy_starts_from_the_best_and_keeps_only_what_helps():
    # Target 1.0; alone, best first: 0.9, 1.2, 3.0, -5.0.
    states = [_scalar(3.0), _scalar(0.9), _scalar(1.2), _scalar(-5.0)]
    result = greedy_soup(states, _closeness(1.0))
    assert result.solo == pytest.approx([-2.0, -0.1, -0.2, -6.0])
    # 0.9 first; + 1.2 -> mean 1.05 (better, kept); + 3.0 -> 1.7 (worse); + -5 -> worse
    assert result.chosen == [1, 2]
    assert result.score == pytest.approx(-0.05)
    assert [(i, ok) for i, _, ok in result.steps] == [(2, True), (0, False), (3, False)]


def test_greedy_never_below_the_best_ingredient_and_keeps_ties():
    states = [_scalar(1.0), _scalar(1.0), _scalar(7.0)]
    result = greedy_soup(states, _closeness(1.0))
    assert result.chosen == [0, 1]  # the tie joins; 7.0 does not
    assert result.score == max(result.solo)


def test_uniform_takes_everything():
    states = [_scalar(0.0), _scalar(2.0), _scalar(4.0)]
    result = uniform_soup(states, _closeness(2.0))
    assert result.chosen == [0, 1, 2]
    assert result.score == pytest.approx(0.0)
    assert result.solo == pytest.approx([-2.0, 0.0, -2.0])
