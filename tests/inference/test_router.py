"""The --weights auto rule (saunet.inference.router)."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.inference.router import FALLBACK, KNOWN_SIZES, WeightsRouter, weights_for
from saunet.inference.segmenter import Segmenter


def test_the_rule_picks_by_exact_size():
    assert weights_for((584, 565)) == "drive"
    assert weights_for((960, 999)) == "chase"
    assert weights_for((565, 584)) == FALLBACK == "general"  # rotated: not DRIVE's camera
    assert weights_for((2336, 3504)) == "general"
    assert set(KNOWN_SIZES.values()) == {"drive", "chase"}


@pytest.mark.usefixtures("one_thread")
def test_router_builds_each_segmenter_once_and_only_when_needed(tmp_path, tiny_checkpoint):
    built = []

    def build(name):
        built.append(name)
        path = tiny_checkpoint(tmp_path / f"{name}.safetensors", seed=len(built))
        return Segmenter.from_weights(str(path), device="cpu", precision="fp32")

    router = WeightsRouter(build)
    assert built == []
    rng = np.random.default_rng(0)
    other = rng.random((40, 48, 3)).astype(np.float32)
    res = router.segment(other, scale=1.0)
    assert built == ["general"] and res.weights == "general"
    router.segment(rng.random((40, 44, 3)).astype(np.float32), scale=1.0)
    assert built == ["general"]  # reused
    drive_size = rng.random((584, 565, 3)).astype(np.float32)
    assert router.segment(drive_size, scale=0.1).weights == "drive"
    assert built == ["general", "drive"]


def test_two_threads_asking_at_once_build_the_weights_once():
    import threading
    import time

    from saunet.inference.router import WeightsRouter

    built: list[str] = []

    def build(name):
        built.append(name)
        time.sleep(0.05)  # a slow load, so that the second thread asks meanwhile
        return object()

    router = WeightsRouter(build)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(router.segmenter_for((584, 565))))
               for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == ["drive"] and got[0] is got[1]
