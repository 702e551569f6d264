"""saunet: SA-UNet retinal vessel segmentation (Guo et al., ICPR 2020) in PyTorch.

The public API is imported on first use, so that ``import saunet`` (and the CLI's
``--help``) does not pay for torch::

    import saunet
    seg = saunet.load_pretrained("drive")       # a Segmenter
    model = saunet.build_model("sa-unet")       # logits out

Where each part lives: docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

from saunet.version import __version__

__all__ = [
    "__version__",
    "MODEL_REGISTRY",
    "ModelConfig",
    "Segmenter",
    "UNet",
    "build_model",
    "count_parameters",
    "load_pretrained",
]

_MODEL_NAMES = ("MODEL_REGISTRY", "ModelConfig", "UNet", "build_model", "count_parameters")


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        from saunet.models import unet

        return getattr(unet, name)
    if name == "load_pretrained":
        from saunet.inference.pretrained import load_pretrained

        return load_pretrained
    if name == "Segmenter":
        from saunet.inference.segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module 'saunet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
