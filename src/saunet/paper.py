"""The paper's numbers and names in one place (Guo et al., ICPR 2020).

Pure constants, imported by the code that compares against the paper: the model table,
evaluation tables, REPORT.md and the paper's padding at inference. Nothing here imports
from the rest of the package, so any module may use it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ABLATION_MODELS",
    "DATASETS",
    "DATASET_TITLE",
    "MODEL_ROW",
    "PAPER_PAD",
    "PAPER_RECIPE",
    "PAPER_RESULTS",
    "PAPER_ROWS",
    "PAPER_TABLE",
    "PAPER_TABLE_WITH_COMPARISON",
]

#: The five rows of Tables II/III, top to bottom (``unet18`` is the paper's "U-Net").
ABLATION_MODELS = ("unet18", "unet18-sa", "sd-unet", "backbone", "sa-unet")
DATASETS = ("drive", "chase")
DATASET_TITLE = {"drive": "DRIVE", "chase": "CHASE_DB1"}
#: The ablation table of each dataset (Sec. III-D).
PAPER_TABLE = {"drive": "Table II", "chase": "Table III"}
#: The ablation table and the comparison table that repeats SA-UNet's row (Sec. III-E).
PAPER_TABLE_WITH_COMPARISON = {"drive": "Table II/V", "chase": "Table III/VI"}
#: Registry model name -> ablation row of the paper.
MODEL_ROW = {"unet18": "U-Net", "unet18-sa": "U-Net + SA", "sd-unet": "SD-Unet",
             "backbone": "Backbone", "sa-unet": "SA-UNet"}  # fmt: skip

#: Paper results (protocol ``paper``: whole image, pooled, threshold 0.5), SE SP ACC AUC F1 MCC.
#: DRIVE: Table II (ablation; the SA-UNet row is repeated in Table V).
#: CHASE_DB1: Table III (ablation; SA-UNet repeated in Table VI).
PAPER_RESULTS: dict[str, dict[str, tuple[float, ...]]] = {
    "drive": {
        "U-Net": (0.7677, 0.9857, 0.9666, 0.9789, 0.8012, 0.7839),
        "U-Net + SA": (0.7883, 0.9845, 0.9673, 0.9809, 0.8085, 0.7909),
        "SD-Unet": (0.7978, 0.9860, 0.9695, 0.9858, 0.8208, 0.8045),
        "Backbone": (0.8246, 0.9832, 0.9694, 0.9862, 0.8254, 0.8087),
        "SA-UNet": (0.8212, 0.9840, 0.9698, 0.9864, 0.8263, 0.8097),
    },
    "chase": {
        "U-Net": (0.7842, 0.9861, 0.9733, 0.9838, 0.7875, 0.7733),
        "U-Net + SA": (0.7840, 0.9865, 0.9738, 0.9852, 0.7902, 0.7763),
        "SD-Unet": (0.8297, 0.9854, 0.9756, 0.9897, 0.8109, 0.7981),
        "Backbone": (0.8422, 0.9844, 0.9755, 0.9897, 0.8123, 0.7997),
        "SA-UNet": (0.8573, 0.9835, 0.9755, 0.9905, 0.8153, 0.8033),
    },
}

#: Paper Table IV (trainable, non-trainable), for the model table and its tests.
PAPER_ROWS: dict[str, tuple[int, int]] = {
    "unet": (2_158_705, 0),
    "unet18": (535_793, 0),
    "unet18-sa": (535_891, 0),
    "sd-unet": (535_793, 0),
    "backbone": (537_201, 1_408),
    "sa-unet": (537_299, 1_408),
}

#: Padded input size per dataset in the authors' released code (H, W): test images are
#: zero-padded to it, predicted, and cropped back.
PAPER_PAD: dict[str, tuple[int, int]] = {"drive": (592, 592), "chase": (1008, 1008)}

#: The paper's training recipe (Sec. III-C), per dataset where it differs.
PAPER_RECIPE: dict[str, Any] = {
    "data.augmentation": "offline",
    "data.validation": "paper",
    "data.patch_size": None,
    "data.pad_to": {"drive": 592, "chase": 1008},
    "train.epochs": 150,
    "train.batch_size": {"drive": 8, "chase": 4},
    "train.lr": 0.001,
    "train.schedule": "step",
    "train.loss": "bce",
    "train.max_minutes": None,
    "train.clock": "epochs",
    "model.drop_prob": {"drive": 0.18, "chase": 0.13},
    "model.block_size": 7,
}
