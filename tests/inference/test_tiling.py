"""Tiled inference equals whole-image inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from saunet import build_model
from saunet.inference.predictor import predict_probabilities
from saunet.inference.segmenter import TorchPredictor
from saunet.inference.tiling import predict_tiled, window_starts


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny forward passes: one thread avoids OpenMP spinning against other processes."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def box_predictor(x: np.ndarray) -> np.ndarray:
    """5x5 mean of the red channel (zero padded): a receptive field of radius 2."""
    return ndi.uniform_filter(x[:, 0], size=(1, 5, 5), mode="constant").astype(np.float32)


def test_window_starts_cover_and_align():
    for length, window, margin in [(1000, 512, 64), (64, 64, 8), (72, 32, 8), (96, 24, 16)]:
        starts = window_starts(length, window, margin, 8)
        assert starts[0] == 0 and starts[-1] == length - window
        assert all(s % 8 == 0 for s in starts)
        assert all(
            b - a <= window - 2 * margin or b - a == 8
            for a, b in zip(starts, starts[1:], strict=False)
        )


@pytest.mark.parametrize("hw", [(37, 53), (64, 64), (8, 100), (1, 1)])
@pytest.mark.parametrize("tta", [False, True])
def test_tiles_equal_whole_image_for_local_predictor(hw, tta):
    im = image(*hw)
    whole = predict_tiled(box_predictor, im, tile=0, tta=tta)
    tiled = predict_tiled(box_predictor, im, tile=16, margin=4, tta=tta)
    assert whole.shape == hw and whole.dtype == np.float32
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_tiled_equals_untiled_network():
    """A small eval-mode SA-UNet, small tiles, margin beyond its receptive field (~37 px)."""
    torch.manual_seed(0)
    model = build_model("sa-unet", channels=(4, 8, 16)).eval()  # two poolings, divisor 4
    im = image(100, 122, seed=1)
    reference = predict_probabilities(model, im, channels_last=False)
    pred = TorchPredictor(model, torch.device("cpu"), None, channels_last=False)
    tiled = predict_tiled(pred, im, tile=96, margin=40, divisor=model.divisor)
    untiled = predict_tiled(pred, im, tile=0, divisor=model.divisor)
    np.testing.assert_allclose(untiled, reference, atol=1e-5)
    np.testing.assert_allclose(tiled, reference, atol=1e-6)
    # with a margin below the receptive field the seams differ (so tiles were used), a little
    rough = predict_tiled(pred, im, tile=32, margin=4, divisor=model.divisor)
    assert 1e-4 < np.abs(rough - reference).max() < 0.1


def test_tta_flips_window():
    im = image(24, 40)

    def rows(x: np.ndarray) -> np.ndarray:  # probability = row index
        shape = (x.shape[0], *x.shape[2:])
        return np.broadcast_to(np.arange(x.shape[2], dtype=np.float32)[None, :, None], shape).copy()

    out = predict_tiled(rows, im, tile=0, tta=True)
    # identity and h-flip keep rows; v-flip and hv-flip reverse them
    expected = (np.arange(24)[:, None] + np.arange(23, -1, -1)[:, None]) / 2
    np.testing.assert_allclose(out, np.broadcast_to(expected, (24, 40)), atol=1e-6)
