"""Lanes: when a run uses them, the thread count they set and restore, the pixel budget."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from saunet.inference.lanes import LANES, PixelBudget, default_lanes, torch_threads


def test_default_lanes_only_for_eager_torch_on_a_cpu_with_threads_and_images():
    assert default_lanes("cpu", "torch", False, n_images=20, threads=2) == LANES == 2
    assert default_lanes("cpu", "torch", False, n_images=1, threads=2) == 1
    assert default_lanes("cpu", "torch", False, n_images=20, threads=1) == 1
    assert default_lanes("cpu", "onnx", False, n_images=20, threads=2) == 1
    assert default_lanes("cpu", "torch", True, n_images=20, threads=2) == 1
    if torch.cuda.is_available():
        assert default_lanes("cuda", "torch", False, n_images=20, threads=2) == 1


def test_torch_threads_sets_and_restores_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before
    with torch_threads(0):  # never below one
        assert torch.get_num_threads() == 1


def test_pixel_budget_shares_small_images_and_runs_a_large_one_alone():
    budget, log, lock = PixelBudget(cap=100), [], threading.Lock()

    def work(name: str, pixels: int, hold_s: float) -> None:
        with budget.hold(pixels):
            with lock:
                log.append(("in", name, budget.used))
            time.sleep(hold_s)
        with lock:
            log.append(("out", name, None))

    small = [threading.Thread(target=work, args=(n, 40, 0.2)) for n in ("s1", "s2")]
    for t in small:
        t.start()
    time.sleep(0.05)
    big = threading.Thread(target=work, args=("big", 500, 0.01))
    big.start()
    for t in [*small, big]:
        t.join()
    assert {e[1] for e in log[:2]} == {"s1", "s2"} and log[1][2] == 80  # both at once
    i = log.index(("in", "big", 500))  # alone: the budget held nothing else
    assert {e[1] for e in log[:i] if e[0] == "out"} == {"s1", "s2"}
    assert budget.used == 0
