"""saunet segment with the default weights (auto): the rule's weights per photograph."""

from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from saunet.cli import main


def test_default_weights_follow_the_rule(tmp_path, one_thread):
    yy, xx = np.mgrid[:96, :112]
    disc = (yy - 48) ** 2 + (xx - 56) ** 2 < 44**2
    img = np.where(disc[..., None], [180, 80, 40], 0).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "other.png")
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "other.png"), "--out", str(out), "--device", "cpu"]) == 0
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["weights"] == "sa-unet-general" and row["status"] == "ok"
    assert float(row["scale"]) > 4.0 - 1e-6  # 88-px FOV brought towards 900 px, clipped at 4
    for suffix in ("_prob.png", "_mask.png", "_overlay.jpg"):
        assert (out / f"other{suffix}").is_file()
