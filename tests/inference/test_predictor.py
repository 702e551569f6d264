"""Whole-image inference: padding/crop-back, flips (TTA), autocast, the real network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from saunet import build_model
from saunet.inference.predictor import predict_batch, predict_probabilities
from saunet.paper import PAPER_PAD


class PixelModel(nn.Module):
    """Logit = red - blue per pixel: independent of padding and flip-equivariant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] - x[:, 2:3]


class RowModel(nn.Module):
    """Logit = row index: detects where the image sits inside the padded canvas."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[-2]
        rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, h, 1)
        return rows.expand(x.shape[0], 1, h, x.shape[-1]) / 100.0


def image(h: int = 13, w: int = 17, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_pixel_model_exact_with_padding_and_tta():
    im = image()
    expected = 1 / (1 + np.exp(-(im[..., 0] - im[..., 2])))
    for kw in (
        {},
        {"pad_to": (16, 24)},
        {"tta": True},
        {"pad_to": (20, 20), "tta": True, "channels_last": False},
    ):
        out = predict_probabilities(PixelModel(), im, **kw)
        assert out.shape == (13, 17) and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, atol=1e-6)


def test_symmetric_padding_offset():
    out = predict_probabilities(RowModel(), image(13, 17), pad_to=(20, 17))
    top = (20 - 13) // 2  # extra row of odd padding goes to the bottom
    expected_rows = 1 / (1 + np.exp(-(np.arange(top, top + 13) / 100.0)))
    np.testing.assert_allclose(out[:, 0], expected_rows, atol=1e-6)


def test_tta_averages_flipped_predictions():
    im = image()
    plain = predict_probabilities(RowModel(), im)
    tta = predict_probabilities(RowModel(), im, tta=True)
    # identity + h-flip keep rows, v-flip and hv-flip reverse them
    expected = (plain + plain[::-1]) / 2
    np.testing.assert_allclose(tta, expected, atol=1e-6)


def test_pad_smaller_than_image_raises():
    with pytest.raises(ValueError, match="larger than pad_to"):
        predict_probabilities(PixelModel(), image(13, 17), pad_to=(12, 20))


def test_unet_any_size_batch_and_autocast():
    torch.manual_seed(0)
    model = build_model("sa-unet").eval()
    ims = [image(21, 30, seed=i) for i in range(2)]
    batch = predict_batch(model, ims, pad_to=(24, 32))
    assert batch.shape == (2, 21, 30)
    assert np.all((batch >= 0) & (batch <= 1))
    single = predict_probabilities(model, ims[1], pad_to=(24, 32))
    np.testing.assert_allclose(batch[1], single, atol=1e-5)
    bf16 = predict_probabilities(model, ims[0], pad_to=(24, 32), amp_dtype=torch.bfloat16)
    np.testing.assert_allclose(bf16, batch[0], atol=2e-2)
    assert not model.training
    assert PAPER_PAD == {"drive": (592, 592), "chase": (1008, 1008)}
