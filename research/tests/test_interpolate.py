"""Weight interpolation (interpolate): arithmetic, refusals, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from interpolate import fov_auc, interpolate_states, score_interpolations

from saunet import build_model
from saunet.inference.predictor import predict_probabilities


def _states():
    torch.manual_seed(0)
    a = build_model("sa-unet", channels=(4, 8)).state_dict()
    torch.manual_seed(1)
    b = build_model("sa-unet", channels=(4, 8)).state_dict()
    for k in b:  # make the BatchNorm counters differ too
        if k.endswith("num_batches_tracked"):
            b[k] = b[k] + 7
    return a, b


def test_ends_and_midpoint():
    a, b = _states()
    assert all(
        torch.equal(interpolate_states(a, b, 0.0)[k], a[k]) for k in a if a[k].is_floating_point()
    )
    assert all(torch.equal(interpolate_states(a, b, 1.0)[k], b[k]) for k in b)
    mid = interpolate_states(a, b, 0.5)
    k = next(k for k in a if k.endswith("weight") and a[k].dim() == 4)
    torch.testing.assert_close(mid[k], (a[k] + b[k]) / 2)
    counters = [k for k in a if k.endswith("num_batches_tracked")]
    assert counters and all(torch.equal(mid[k], b[k]) for k in counters)


def test_refuses_extrapolation_and_mismatch():
    a, b = _states()
    with pytest.raises(ValueError, match="alpha"):
        interpolate_states(a, b, 1.5)
    with pytest.raises(ValueError, match="keys"):
        interpolate_states(a, {k: v for k, v in b.items() if "bottleneck" not in k}, 0.5)
    c = build_model("sa-unet", channels=(4, 16)).state_dict()
    with pytest.raises(ValueError, match="shape"):
        interpolate_states(a, c, 0.5)


def test_fov_auc_ignores_pixels_outside_the_fov():
    label = np.array([[1, 0], [0, 1]], bool)
    fov = np.array([[1, 1], [0, 1]], bool)
    perfect_inside = np.array([[0.9, 0.1], [1.0, 0.8]])  # the bright pixel is outside
    assert fov_auc([perfect_inside], [{"label": label, "fov": fov}]) == 1.0
    assert fov_auc([perfect_inside], [{"label": label, "fov": np.ones_like(fov)}]) < 1.0


def test_score_interpolations_ends_match_the_end_networks(one_thread):
    a, b = _states()
    rng = np.random.default_rng(0)
    samples = [
        {
            "image": rng.random((24, 24, 3)).astype(np.float32),
            "label": rng.random((24, 24)) > 0.7,
            "fov": np.ones((24, 24), bool),
        }
    ]
    model = build_model("sa-unet", channels=(4, 8))
    rows = score_interpolations(model, a, b, [0.0, 1.0], samples)
    assert [r[0] for r in rows] == [0.0, 1.0]
    for (_, auc), state in zip(rows, (a, b), strict=True):
        ref = build_model("sa-unet", channels=(4, 8))
        ref.load_state_dict(state)
        p = predict_probabilities(ref.eval(), samples[0]["image"])
        assert auc == pytest.approx(fov_auc([p], samples), abs=1e-9)
