"""Lanes: several images in flight at once on a CPU, each with a share of the threads.

A lane takes one image through every step on its own thread: decode, FOV estimate,
network, and its output files. ``saunet segment`` runs a CPU folder in :data:`LANES` lanes,
each with ``threads // LANES`` torch threads (:func:`default_lanes`).

Why: around the network each DRIVE-size image costs ~25 ms of single-threaded work
(decoding, the FOV estimate, three encoders). Run between forward passes, that work leaves
the other cores idle; run on helper threads beside a forward pass that uses every core, it
competes with OpenMP's threads, which spin between operators, and the pass slows down by
about as much as the helpers gain (benchmarks/README.md). Two lanes of half the threads keep
every core busy with no such contention: while one lane encodes, the other computes.

Memory: each lane holds one image and its maps. :class:`PixelBudget` keeps the images
being segmented at once to :data:`LANE_PIXELS` together; a larger photograph runs alone, so a
folder of large photographs keeps the memory of one being segmented and the next one
decoded, waiting (a 3504 x 2336 photograph peaks near 0.8 GB, benchmarks/bench_memory.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LANES", "LANE_PIXELS", "PixelBudget", "default_lanes", "torch_threads"]

#: Lanes of a CPU run; two suffice to overlap the single-threaded steps with the network.
LANES = 2
#: Pixels of the images segmented at once (two 1700 x 1700 photographs; DRIVE's are 0.33 M).
LANE_PIXELS = 6_000_000


def default_lanes(
    device: str, backend: str, compile: bool, n_images: int, threads: int | None = None
) -> int:
    """Lanes for a run: :data:`LANES` for the eager torch backend on a CPU with at least two
    torch threads and two images, else 1 (one image at a time, helper threads for I/O).

    A GPU runs one image at a time anyway; onnxruntime fixes its threads when its session is
    made; a ``torch.compile``-d network is not called from two threads at once.
    """
    import torch

    from saunet.utils.device import resolve_device

    n_threads = torch.get_num_threads() if threads is None else threads
    if backend != "torch" or compile or n_images < 2 or n_threads < 2:
        return 1
    return LANES if resolve_device(device).type == "cpu" else 1


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads; restore the previous count after.

    PyTorch reports one count for the process, but a thread keeps the count it first ran
    with: the lanes' threads must therefore start inside this block.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PixelBudget:
    """Pixels of the images being segmented at once, at most ``cap`` unless one runs alone.

    ``with budget.hold(h * w):`` waits until the image fits beside the others in flight, or
    until nothing else is in flight (an image larger than ``cap`` then runs alone).
    """

    def __init__(self, cap: int = LANE_PIXELS) -> None:
        self.cap = cap
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + pixels <= self.cap)
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()
