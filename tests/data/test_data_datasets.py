"""DRIVE and CHASE_DB1 readers on the real data (skipped when the data root is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.data.datasets import load_dataset, positive_fraction, resolve_data_root
from saunet.errors import DataError


def test_drive_split_counts_names_sizes(drive_train, drive_test):
    assert [s["name"] for s in drive_train] == [f"{i}_training" for i in range(21, 41)]
    assert [s["name"] for s in drive_test] == [f"{i:02d}_test" for i in range(1, 21)]
    for s in drive_train + drive_test:
        assert s["size"] == (584, 565)
        assert s["image"].shape == (584, 565, 3) and s["image"].dtype == np.float32
        assert 0.0 <= s["image"].min() and s["image"].max() <= 1.0
        assert s["label"].dtype == bool and s["fov"].dtype == bool
        assert s["label"].shape == s["fov"].shape == (584, 565)
        assert s["fov_source"] == "mask"
    assert all("second_label" in s for s in drive_test)
    assert not any("second_label" in s for s in drive_train)


def test_drive_positive_fractions(drive_test, drive_train):
    # First observer ~8.8% of all pixels on the test set (whole image).
    assert 0.08 <= positive_fraction(drive_test) <= 0.10
    assert 0.07 <= positive_fraction(drive_train) <= 0.10
    # Second observer: palette GIFs with 0/1 indices must not read as ~0% or ~100%.
    second = positive_fraction(drive_test, "second_label")
    assert 0.07 <= second <= 0.10
    for s in drive_test:
        assert 0.03 < s["second_label"].mean() < 0.15, s["name"]
    fov = np.mean([s["fov"].mean() for s in drive_test])
    assert 0.6 < fov < 0.75


def test_chase_split_and_sizes(chase_all, data_root):
    names = [s["name"] for s in chase_all]
    assert names == [f"Image_{i:02d}{e}" for i in range(1, 15) for e in "LR"]
    train = load_dataset("chase", data_root, "train")
    assert [s["name"] for s in train] == names[:20]
    assert train[-1]["name"] == "Image_10R"
    test_names = [s["name"] for s in chase_all[20:]]
    assert test_names[0] == "Image_11L" and test_names[-1] == "Image_14R" and len(test_names) == 8
    for s in chase_all:
        assert s["size"] == (960, 999) and s["image"].shape == (960, 999, 3)
        assert "second_label" in s
        # 1-bit PNG labels read as boolean with a sensible vessel fraction.
        assert 0.03 < s["label"].mean() < 0.15, s["name"]
        assert 0.03 < s["second_label"].mean() < 0.15, s["name"]


def test_data_root_resolution(monkeypatch, data_root, tmp_path):
    monkeypatch.delenv("SAUNET_DATA", raising=False)
    with pytest.raises(DataError, match="no data root: pass --data-root or set SAUNET_DATA"):
        resolve_data_root(None)
    monkeypatch.setenv("SAUNET_DATA", str(data_root))
    assert resolve_data_root(None) == data_root
    with pytest.raises(DataError, match="not a folder"):
        resolve_data_root(tmp_path / "missing")
    # The dataset folder itself is accepted as root.
    assert len(load_dataset("drive", data_root / "DRIVE", "test")) == 20
