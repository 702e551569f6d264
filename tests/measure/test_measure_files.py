"""Pairing vessel masks with FOV masks by name, as the public datasets name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.errors import UserError
from saunet.inference.inputs import Source
from saunet.measure.files import match_fovs, planned_outputs


def touch_png(path: Path) -> Path:
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
    return path


def test_dataset_suffixes_pair_labels_with_fov_masks(tmp_path):
    for n in ("01_test_mask.gif", "02_test_mask.gif", "Image_11L_mask.png"):
        touch_png(tmp_path / n)
    srcs = [Source(s, s) for s in ("01_manual1", "02_manual2", "Image_11L_1stHO")]
    got = {k: v.name for k, v in match_fovs(srcs, tmp_path).items()}
    assert got == {
        "01_manual1": "01_test_mask.gif",
        "02_manual2": "02_test_mask.gif",
        "Image_11L_1stHO": "Image_11L_mask.png",
    }


def test_missing_or_ambiguous_fov_is_one_clear_error(tmp_path):
    touch_png(tmp_path / "01_test_mask.png")
    touch_png(tmp_path / "01_training_mask.png")
    with pytest.raises(UserError, match="2 masks for 01_manual1"):
        match_fovs([Source("01_manual1", "01_manual1")], tmp_path)
    with pytest.raises(UserError, match="no mask for 03_manual1"):
        match_fovs([Source("03_manual1", "03_manual1")], tmp_path)


def test_planned_outputs(tmp_path):
    names = [p.name for p in planned_outputs([Source("a", "a")], tmp_path)]
    assert names == ["a_measure.png", "measurements.csv", "segments.csv", "index.html"]
