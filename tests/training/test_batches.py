"""Epoch batches: whole images and FOV patches, seeded per epoch, on any device."""

from __future__ import annotations

import pytest
import torch


def test_whole_image_batches_cover_the_epoch_once(random_data):
    data = random_data()
    batches = list(data.epoch_batches(0, batch_size=2))
    assert len(batches) == data.num_batches(2) == 3
    names = [n for b in batches for n in b["name"]]
    assert sorted(names) == [f"im{i}" for i in range(5)]
    b = batches[0]
    assert b["image"].shape == (2, 3, 40, 40) and b["image"].dtype == torch.float32
    assert 0 <= b["image"].min() and b["image"].max() <= 1
    assert set(b["label"].unique().tolist()) <= {0.0, 1.0}


def test_epoch_order_is_a_function_of_seed_and_epoch(random_data):
    data = random_data()
    order = lambda e: [n for b in data.epoch_batches(e, 5) for n in b["name"]]  # noqa: E731
    assert order(3) == order(3)
    assert any(order(e) != order(0) for e in range(1, 6))


def test_patches_are_square_and_mostly_inside_the_fov(random_data):
    data = random_data(patch_size=16)
    batches = list(data.epoch_batches(0, batch_size=4))
    assert sum(len(b["name"]) for b in batches) == data.items_per_epoch() == 15
    for b in batches:
        assert b["image"].shape[1:] == (3, 16, 16)
        assert (b["fov"].mean(dim=(1, 2, 3)) >= 0.5).all()


@pytest.mark.parametrize("patch_size", [None, 16])
def test_to_device_keeps_every_batch_identical(patch_size, random_data):
    host = list(random_data(patch_size).epoch_batches(2, batch_size=4))
    moved = random_data(patch_size).to(torch.device("cpu"))
    for a, b in zip(host, moved.epoch_batches(2, batch_size=4), strict=True):
        assert a["name"] == b["name"]
        for k in ("image", "label", "fov"):
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("patch_size", [None, 16])
def test_batches_are_built_on_the_gpu(patch_size, random_data):
    data = random_data(patch_size).to(torch.device("cuda"))
    host = list(random_data(patch_size).epoch_batches(0, batch_size=4))
    for a, b in zip(host, data.epoch_batches(0, batch_size=4), strict=True):
        assert b["image"].is_cuda and b["label"].is_cuda and b["fov"].is_cuda
        # Same pixels and crops: compare the uint8 values, since CPU and CUDA kernels may
        # round x / 255 one ulp apart.
        as_bytes = lambda t: t.cpu().mul(255).round().to(torch.uint8)  # noqa: E731
        assert torch.equal(as_bytes(a["image"]), as_bytes(b["image"]))
        assert torch.equal(a["label"], b["label"].cpu()) and torch.equal(a["fov"], b["fov"].cpu())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_validation_reads_gpu_resident_images(random_data):
    from saunet.models import ModelConfig, UNet
    from saunet.training.loop import validate

    data = random_data().to(torch.device("cuda"))
    model = UNet(ModelConfig(channels=(4, 8), block_size=3)).cuda()
    metrics = validate(model, data.val, torch.device("cuda"), None, batch_size=2)
    assert 0 <= metrics["val_auc"] <= 1


def test_patches_are_the_crops_at_the_drawn_corners(random_data):
    # Reference: cut every crop by slicing, one at a time, at the corner the epoch's
    # generator draws (the gather must give the same pixels, in the same order).
    from saunet.training.batches import epoch_generator

    data = random_data(patch_size=16)
    p, ww, n = 16, data.train.size[1] - 16 + 1, len(data.train)
    order = torch.randperm(data.items_per_epoch(), generator=epoch_generator(1, 4))
    for start, b in zip(range(0, 15, 4), data.epoch_batches(4, batch_size=4), strict=True):
        u = torch.rand(len(order[start : start + 4]), generator=epoch_generator(1, 4, 1 + start))
        for j, k in enumerate(order[start : start + 4].tolist()):
            c = data.corners[k % n]
            y, x = divmod(int(c[min(int(u[j] * len(c)), len(c) - 1)]), ww)
            want = data.train.tensors["image"][k % n, :, y : y + p, x : x + p].float() / 255
            torch.testing.assert_close(b["image"][j], want, rtol=0, atol=0)
            assert torch.equal(
                b["label"][j], data.train.tensors["label"][k % n, :, y : y + p, x : x + p].float()
            )
            assert b["name"][j] == f"im{k % n}"


def test_zoomed_patches_keep_their_shape_and_binary_masks(random_data):
    data = random_data(patch_size=16)
    data.cfg.zoom = [0.5, 2.0]
    batches = list(data.epoch_batches(0, batch_size=4))
    assert sum(len(b["name"]) for b in batches) == 15
    for b in batches:
        assert b["image"].shape[1:] == (3, 16, 16) and b["image"].dtype == torch.float32
        for key in ("label", "fov"):
            assert set(b[key].unique().tolist()) <= {0.0, 1.0}
    again = list(data.epoch_batches(0, batch_size=4))
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(batches, again, strict=True))


def test_zoom_crop_magnifies_about_the_crop_centre():
    from saunet.training.batches import zoom_crop

    t = torch.zeros(1, 64, 64, dtype=torch.uint8)
    t[0, :, 30:34] = 1  # a vertical vessel 4 px wide, centred at x = 32
    same = zoom_crop(t, 16, 16, 32, 1.0, "label")
    assert torch.equal(same, t[:, 16:48, 16:48].float())
    twice = zoom_crop(t, 16, 16, 32, 2.0, "label")
    assert twice.shape == (1, 32, 32) and int(twice[0, 16].sum()) == 8  # 4 px -> 8 px
    half = zoom_crop(t, 16, 16, 32, 0.5, "label")
    assert int(half[0, 16].sum()) == 2  # 4 px -> 2 px, still centred
    assert bool(half[0, 16, 15:17].all())
