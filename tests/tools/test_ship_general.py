"""tools/ship_general.py: the threshold of multi-camera weights comes from their held-out
photographs of every dataset, never from a test image."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _tool():
    sys.path.insert(0, str(TOOLS))  # ship_general imports ship_weights beside it
    try:
        spec = importlib.util.spec_from_file_location("ship_general", TOOLS / "ship_general.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOLS))
    return module


@pytest.mark.usefixtures("one_thread")
def test_validation_threshold_uses_the_held_out_photographs_of_each_dataset(
    tmp_path, tiny_checkpoint, shared_data_root
):
    from saunet.data.calibre import calibre_scale_meta

    meta = {
        "data": {"dataset": "drive+chase", "val": ["21_training", "Image_01L"]},
        "run_config": {"data": {"dataset": "drive+chase"}},
        "scale": calibre_scale_meta(5.0),  # small, so the tiny network sees small images
    }
    tiny_checkpoint(tmp_path / "best.safetensors", **meta)
    t, f1 = _tool().validation_threshold(tmp_path, meta, str(shared_data_root))
    # Independent check: the two photographs segmented here, pooled inside their FOV and
    # scored by scikit-learn, give the same best F1 at the same threshold.
    from sklearn.metrics import f1_score, precision_recall_curve

    from saunet.data.datasets import load_dataset
    from saunet.inference.segmenter import Segmenter

    seg = Segmenter.from_weights(str(tmp_path / "best.safetensors"), device="cpu", precision="fp32")
    samples = [load_dataset(d, shared_data_root, "train")[0] for d in ("drive", "chase")]
    assert [s["name"] for s in samples] == meta["data"]["val"]
    p = np.concatenate([seg.segment(s["image"], fov=s["fov"]).prob[s["fov"]] for s in samples])
    y = np.concatenate([s["label"][s["fov"]] for s in samples])
    prec, rec, _ = precision_recall_curve(y, p)
    best = np.nanmax(2 * prec * rec / np.maximum(prec + rec, 1e-12))
    assert f1 == pytest.approx(best, abs=1e-6)
    assert f1_score(y, p >= t) == pytest.approx(f1, abs=1e-6)
    with pytest.raises(SystemExit, match="validation images"):
        bad = {**meta, "data": {**meta["data"], "val": ["21_training", "nope"]}}
        _tool().validation_threshold(tmp_path, bad, str(shared_data_root))
