import pytest
import torch

from saunet.models import ConvBlock, DropBlock2d, SpatialAttention, drop_block_2d


def test_dropblock_identity_in_eval_and_at_zero():
    x = torch.randn(2, 4, 32, 32)
    m = DropBlock2d(0.18, 7).eval()
    assert torch.equal(m(x), x)
    assert torch.equal(drop_block_2d(x, 0.0, 7, training=True), x)


# The paper's rates; at much larger p overlapping blocks push the realised rate below
# the target (0.26 at p=0.3), a known property of DropBlock's seed-rate formula.
@pytest.mark.parametrize("p", [0.05, 0.13, 0.18])
def test_dropblock_drop_ratio_matches_target(p):
    torch.manual_seed(0)
    x = torch.ones(8, 16, 64, 64)
    y = drop_block_2d(x, p, 7, training=True)
    dropped = (y == 0).float().mean().item()
    # overlapping blocks make the realised rate slightly lower than gamma*bs^2 suggests
    assert abs(dropped - p) < 0.03


def test_dropblock_rescales_by_kept_fraction():
    torch.manual_seed(1)
    x = torch.ones(4, 8, 64, 64)
    y = drop_block_2d(x, 0.18, 7, training=True)
    kept = (y != 0).float().mean()
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / kept.item()), rtol=1e-5)
    assert abs(y.mean().item() - 1.0) < 1e-4


def test_dropblock_zeroes_whole_blocks_per_channel():
    torch.manual_seed(2)
    x = torch.ones(1, 2, 64, 64)
    # small rate so single blocks are isolated; every zero lies in a 7x7 all-zero square
    y = drop_block_2d(x, 0.02, 7, training=True)
    zero = (y == 0).float()
    assert zero.sum() > 0
    # erosion of the zero map by a 7x7 square must not be empty if whole blocks were dropped
    eroded = -torch.nn.functional.max_pool2d(-zero, 7, stride=1, padding=3)
    assert eroded.sum() > 0
    # each zero pixel is covered by some fully-zero 7x7 window
    covered = torch.nn.functional.max_pool2d(eroded, 7, stride=1, padding=3)
    assert torch.equal(covered * zero, zero)
    # channels are independent
    assert not torch.equal(zero[0, 0], zero[0, 1])


def test_dropblock_small_feature_map_clamps_block():
    x = torch.ones(2, 3, 4, 5)
    y = drop_block_2d(x, 0.5, 7, training=True)
    assert y.shape == x.shape


def test_spatial_attention_has_98_weights_and_gates_in_unit_interval():
    sa = SpatialAttention()
    assert sum(p.numel() for p in sa.parameters()) == 98
    x = torch.randn(2, 8, 16, 16)
    gate = sa.attention_map(x)
    assert gate.shape == (2, 1, 16, 16)
    assert (gate > 0).all() and (gate < 1).all()
    assert torch.allclose(sa(x), x * gate)


def test_conv_block_variants():
    plain = ConvBlock(3, 8)
    sd = ConvBlock(3, 8, drop_prob=0.1)
    sdbn = ConvBlock(3, 8, drop_prob=0.1, batch_norm=True)
    assert [type(m).__name__ for m in plain] == ["Conv2d", "ReLU"]
    assert [type(m).__name__ for m in sd] == ["Conv2d", "DropBlock2d", "ReLU"]
    assert [type(m).__name__ for m in sdbn] == ["Conv2d", "DropBlock2d", "BatchNorm2d", "ReLU"]
    bn = sdbn[2]
    assert bn.momentum == pytest.approx(0.01) and bn.eps == pytest.approx(1e-3)


def test_dropblock_off_keeps_the_state_dict_layout():
    """drop_prob 0 keeps an identity DropBlock layer, so weights trained at 0.18 load into
    a network fine-tuned with DropBlock off (and the soup of both has one layout)."""
    from saunet import build_model

    on, off = build_model("sa-unet", drop_prob=0.18), build_model("sa-unet", drop_prob=0.0)
    assert list(on.state_dict()) == list(off.state_dict())
    off.load_state_dict(on.state_dict())
    block = ConvBlock(3, 8, drop_prob=0.0, batch_norm=True).train()
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(block[1](x), x)  # the identity even in training mode


@pytest.mark.parametrize("bs", [3, 4, 7])
def test_fast_dilation_equals_max_pool_reference(bs):
    from saunet.models.layers import _dilate

    seeds = torch.rand(2, 3, 20, 17) < 0.05
    ref = torch.nn.functional.max_pool2d(
        torch.nn.functional.pad(seeds.float(), (bs - 1,) * 4), bs, stride=1
    )
    assert torch.equal(_dilate(_dilate(seeds, bs, 2), bs, 3), ref.bool())
