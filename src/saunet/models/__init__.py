"""SA-UNet model family."""

from saunet.models.layers import (
    ConvBlock,
    DoubleConv,
    DropBlock2d,
    SpatialAttention,
    UpBlock,
    drop_block_2d,
)
from saunet.models.unet import (
    MODEL_REGISTRY,
    ModelConfig,
    UNet,
    build_model,
    count_parameters,
    model_config,
    model_names,
    pad_to_multiple,
)
from saunet.paper import PAPER_ROWS

__all__ = [
    "ConvBlock",
    "DoubleConv",
    "DropBlock2d",
    "SpatialAttention",
    "UpBlock",
    "drop_block_2d",
    "MODEL_REGISTRY",
    "PAPER_ROWS",
    "ModelConfig",
    "UNet",
    "build_model",
    "count_parameters",
    "model_config",
    "model_names",
    "pad_to_multiple",
]
