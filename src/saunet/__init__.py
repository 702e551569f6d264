"""saunet: SA-UNet retinal vessel segmentation (Guo et al., ICPR 2020) in PyTorch."""

__version__ = "0.1.0"

from .models import MODEL_REGISTRY, ModelConfig, UNet, build_model, count_parameters  # noqa: E402
from .pretrained import load_pretrained  # noqa: E402

__all__ = [
    "__version__",
    "MODEL_REGISTRY",
    "ModelConfig",
    "UNet",
    "build_model",
    "count_parameters",
    "load_pretrained",
]
