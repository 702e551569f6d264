"""Which weights segment a photograph: the rule behind ``saunet segment --weights auto``.

Rule (:func:`weights_for`): a photograph of exactly DRIVE's size (565 x 584) gets the
``drive`` weights, one of exactly CHASE_DB1's size (999 x 960) the ``chase`` weights, and
every other photograph the ``general`` weights, trained on both cameras at one vessel
calibre with random zoom and colour shifts (``configs/general.yaml``). The size is the
only sign of a camera that every file carries; a photograph resized or cropped by its
owner is treated as one from an unknown camera. The evidence behind the rule is the
robustness table in docs/segment.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from saunet.inference.segmenter import SegmentationResult, Segmenter

__all__ = ["AUTO", "KNOWN_SIZES", "FALLBACK", "weights_for", "WeightsRouter"]

#: The ``--weights`` value that applies the rule.
AUTO = "auto"
#: ``(height, width)`` of a camera's photographs -> the shipped weights trained on them.
KNOWN_SIZES: dict[tuple[int, int], str] = {(584, 565): "drive", (960, 999): "chase"}
#: Weights for every other photograph.
FALLBACK = "general"


def weights_for(hw: tuple[int, int]) -> str:
    """Shipped weights name for a photograph of ``(height, width)`` (module docstring)."""
    return KNOWN_SIZES.get((int(hw[0]), int(hw[1])), FALLBACK)


class WeightsRouter:
    """Segments each image with the weights :func:`weights_for` picks.

    Each :class:`Segmenter` is built by ``build(name)`` the first time an image needs it,
    so a folder of DRIVE photographs never loads the other weights; safe to call from
    several threads (lanes, :mod:`saunet.inference.lanes`), each set is built once.
    """

    name = AUTO

    def __init__(self, build: Callable[[str], Segmenter]) -> None:
        self._build = build
        self._segmenters: dict[str, Segmenter] = {}
        self._lock = threading.Lock()

    def segmenter_for(self, hw: tuple[int, int]) -> Segmenter:
        """The segmenter of the weights for a photograph of ``(height, width)``."""
        name = weights_for(hw)
        with self._lock:
            if name not in self._segmenters:
                self._segmenters[name] = self._build(name)
            return self._segmenters[name]

    def segment(self, image: np.ndarray, **kw: Any) -> SegmentationResult:
        """:meth:`Segmenter.segment` with the weights for this image's size."""
        return self.segmenter_for(np.shape(image)[:2]).segment(image, **kw)
