"""On-the-fly batched augmentation and FOV-biased patch sampling (torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saunet.data.online import ONLINE_OPS, OnlineAugment, _rotation_grid, sample_patches
from saunet.errors import UserError


def _batch(n=4, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, h, w, generator=g)
    label = (torch.rand(n, 1, h, w, generator=g) < 0.2).float()
    fov = torch.zeros(n, 1, h, w)
    fov[:, :, 2:-2, 3:-3] = 1
    # The label is a function of the image, so alignment can be checked after transforms.
    image[:, 0] = label[:, 0] * 0.5 + 0.25
    return {"image": image, "label": label, "fov": fov, "name": [f"s{i}" for i in range(n)]}


def _label_from_image(image):
    return (image[:, 0:1] > 0.5).float()


def test_geometric_only_keeps_alignment_exactly():
    b = _batch()
    aug = OnlineAugment(rotate=False, color=False, noise=False)
    for seed in range(4):
        out = aug(b, torch.Generator().manual_seed(seed))
        assert torch.equal(_label_from_image(out["image"]), out["label"])
        # Flips and rot90 are permutations: lossless.
        assert torch.equal(out["label"].sum(dim=(1, 2, 3)), b["label"].sum(dim=(1, 2, 3)))
        assert torch.equal(out["image"].flatten(1).sort()[0], b["image"].flatten(1).sort()[0])
    assert out["name"] == b["name"]  # non-tensor entries pass through


def test_from_ops_switches_exactly_the_named_transforms():
    aug = OnlineAugment.from_ops(["flips", "rot90"])
    assert [op for op in ONLINE_OPS if getattr(aug, op)] == ["flips", "rot90"]
    b = _batch()
    for seed in range(4):  # lossless: the image's pixel values are only permuted
        out = aug(b, torch.Generator().manual_seed(seed))
        assert torch.equal(out["image"].flatten(1).sort()[0], b["image"].flatten(1).sort()[0])
    assert all(getattr(OnlineAugment.from_ops(ONLINE_OPS), op) for op in ONLINE_OPS)
    with pytest.raises(ValueError, match="flip"):
        OnlineAugment.from_ops(["flip"])


def test_rot90_and_flips_match_torch_ops():
    b = _batch(n=1)
    aug = OnlineAugment(rotate=False, color=False, noise=False)
    candidates = []
    x = b["image"][0]
    for k in range(4):
        for fh in (False, True):
            for fv in (False, True):
                t = x.flip(-1) if fh else x
                t = t.flip(-2) if fv else t
                candidates.append(torch.rot90(t, k, dims=(-2, -1)))
    for seed in range(6):
        out = aug(b, torch.Generator().manual_seed(seed))["image"][0]
        assert any(torch.equal(out, c) for c in candidates)


def test_rotation_keeps_labels_binary_and_aligned():
    b = _batch(n=3, h=40, w=48)
    aug = OnlineAugment(flips=False, rot90=False, color=False, noise=False, p_rotate=1.0)
    out = aug(b, torch.Generator().manual_seed(1))
    for k in ("label", "fov"):
        assert set(torch.unique(out[k]).tolist()) <= {0.0, 1.0}
    assert out["image"].shape == b["image"].shape
    assert (out["fov"] != b["fov"]).any()  # it did rotate
    # Nearest label vs bilinear image: disagreement only along edges.
    mismatch = (_label_from_image(out["image"]) != out["label"]).float().mean()
    assert mismatch < 0.1
    # Rotating by 90 degrees through the grid equals torch.rot90 on a square image.
    sq = _batch(n=1, h=16, w=16)
    grid = _rotation_grid(torch.tensor([90.0]), 16, 16, torch.float32)
    rotated = torch.nn.functional.grid_sample(
        sq["label"], grid, mode="nearest", align_corners=False
    )
    assert any(torch.equal(rotated, torch.rot90(sq["label"], k, (-2, -1))) for k in (1, 3))


def test_color_and_noise_touch_only_the_image():
    b = _batch()
    aug = OnlineAugment(
        rotate=False, flips=False, rot90=False, p_color=1.0, p_noise=1.0, noise_std=0.05
    )
    out = aug(b, torch.Generator().manual_seed(0))
    assert torch.equal(out["label"], b["label"]) and torch.equal(out["fov"], b["fov"])
    assert not torch.equal(out["image"], b["image"])
    assert out["image"].min() >= 0 and out["image"].max() <= 1


def test_deterministic_under_generator_seed():
    b = _batch()
    aug = OnlineAugment()
    o1 = aug(b, torch.Generator().manual_seed(7))
    o2 = aug(b, torch.Generator().manual_seed(7))
    o3 = aug(b, torch.Generator().manual_seed(8))
    for k in ("image", "label", "fov"):
        assert torch.equal(o1[k], o2[k])
    assert not torch.equal(o1["image"], o3["image"])


def test_non_square_batches_keep_shape():
    b = _batch(n=4, h=24, w=40)
    out = OnlineAugment()(b, torch.Generator().manual_seed(0))
    assert out["image"].shape == (4, 3, 24, 40) and out["label"].shape == (4, 1, 24, 40)


def test_sample_patches_biased_to_fov():
    n, h, w = 3, 64, 80
    images = torch.rand(n, 3, h, w)
    labels = (torch.rand(n, 1, h, w) < 0.1).float()
    fovs = torch.zeros(n, 1, h, w)
    fovs[:, :, 10:50, 20:70] = 1
    fovs[1] = 0  # an image with no FOV is never drawn
    g = torch.Generator().manual_seed(0)
    out = sample_patches(images, labels, fovs, 16, 50, g, min_fov_fraction=0.9)
    assert out["image"].shape == (50, 3, 16, 16) and out["label"].shape == (50, 1, 16, 16)
    assert (out["fov"].mean(dim=(1, 2, 3)) >= 0.9).all()
    # Crops are real windows of the inputs (image and label from the same place).
    a = sample_patches(images, labels, fovs, 16, 5, torch.Generator().manual_seed(3))
    b = sample_patches(images, labels, fovs, 16, 5, torch.Generator().manual_seed(3))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    img0 = images.numpy()
    for j in range(5):
        hits = [
            (i, y, x)
            for i in range(n)
            for y in range(h - 15)
            for x in range(w - 15)
            if np.array_equal(img0[i, :, y : y + 16, x : x + 16], a["image"][j].numpy())
        ][:1]
        assert hits, "patch not found in any image"
        i, y, x = hits[0]
        assert torch.equal(labels[i, :, y : y + 16, x : x + 16], a["label"][j])
    with pytest.raises(UserError, match="patch_size"):
        sample_patches(images, labels, fovs, 100, 1, g)


def test_real_drive_fov_follows_image(drive_test):
    """On real images: the transformed FOV mask still matches the transformed image."""
    from saunet.data.fov import estimate_fov
    from saunet.data.transforms import pad_sample

    samples = [pad_sample(s, 592) for s in drive_test[:2]]
    batch = {
        "image": torch.from_numpy(np.stack([s["image"] for s in samples])).permute(0, 3, 1, 2),
        "label": torch.from_numpy(np.stack([s["label"] for s in samples]))[:, None].float(),
        "fov": torch.from_numpy(np.stack([s["fov"] for s in samples]))[:, None].float(),
    }
    aug = OnlineAugment(color=False, noise=False, p_rotate=1.0)
    out = aug(batch, torch.Generator().manual_seed(0))
    for i in range(2):
        est = estimate_fov(out["image"][i].permute(1, 2, 0).numpy())
        fov = out["fov"][i, 0].numpy() > 0.5
        assert (est & fov).sum() / (est | fov).sum() > 0.95
        assert abs(out["label"][i].sum() - batch["label"][i].sum()) < 0.01 * batch["label"][i].sum()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_batches_get_the_cpu_draws():
    # The same generator gives the same flips, turns, angles and colours on either device;
    # only the noise is drawn on the GPU itself (repeatable, but other numbers).
    b = _batch(n=8)
    gpu = {k: v.cuda() if torch.is_tensor(v) else v for k, v in b.items()}
    aug = OnlineAugment(noise=False)
    a = aug(b, torch.Generator().manual_seed(3))
    g = aug(gpu, torch.Generator().manual_seed(3))
    torch.testing.assert_close(g["image"].cpu(), a["image"], rtol=0, atol=1e-4)
    for k in ("label", "fov"):  # nearest resampling may round a border pixel the other way
        assert (g[k].cpu() != a[k]).float().mean() < 1e-3
    noisy = OnlineAugment(p_noise=1.0, noise_std=0.1)
    n1, n2 = (noisy(gpu, torch.Generator().manual_seed(5))["image"] for _ in range(2))
    assert n1.is_cuda and torch.equal(n1, n2)


@pytest.mark.parametrize("kind", ["rot90", "rotate"])
def test_gpu_and_cpu_ways_of_picking_samples_agree(kind):
    # A GPU transforms the whole batch and keeps the picked samples; a CPU transforms only
    # the picked ones. Both run here, on the CPU.
    from saunet.data.online import _apply_to

    x = _batch(n=6)["image"]
    sel = torch.tensor([True, False, True, True, False, False])
    grid = _rotation_grid(torch.tensor([10.0, 20, 30, 40, 50, 60]), 32, 32, x.dtype)

    def fn(t, i):
        if kind == "rot90":
            return torch.rot90(t, 1, dims=(-2, -1))
        g = grid if i is None else grid[i]
        return torch.nn.functional.grid_sample(t, g, align_corners=False)

    a, b = _apply_to(sel, fn, x, subset=True), _apply_to(sel, fn, x, subset=False)
    assert torch.equal(a, b)
    assert torch.equal(a[~sel], x[~sel]) and not torch.equal(a[sel], x[sel])


def test_camera_op_changes_only_the_image_and_is_off_by_default():
    from saunet.data.online import DEFAULT_ONLINE_OPS

    assert "camera" not in DEFAULT_ONLINE_OPS
    assert not OnlineAugment().camera
    b = _batch(n=8)
    aug = OnlineAugment(rotate=False, flips=False, rot90=False, color=False, noise=False,
                        camera=True, p_camera=1.0)  # fmt: skip
    out = aug(b, torch.Generator().manual_seed(3))
    assert torch.equal(out["label"], b["label"]) and torch.equal(out["fov"], b["fov"])
    assert not torch.allclose(out["image"], b["image"])
    assert 0.0 <= float(out["image"].min()) and float(out["image"].max()) <= 1.0
    # Per-channel gains: the channels' ratios change from sample to sample.
    ratio = out["image"][:, 1].mean((1, 2)) / b["image"][:, 1].mean((1, 2))
    assert float(ratio.std()) > 0.01
    again = aug(b, torch.Generator().manual_seed(3))
    assert torch.equal(out["image"], again["image"])  # repeatable for a seed
