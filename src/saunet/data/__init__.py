"""Datasets, preprocessing and augmentation (paper Sec. III-A and III-C).

* :mod:`.io` - reading images/masks, writing PNGs;
* :mod:`.datasets` - DRIVE, CHASE_DB1 (and :mod:`.folder`, the user's own data) as sample dicts;
* :mod:`.fov` - field-of-view estimation for images without a mask;
* :mod:`.transforms` - padding/cropping, the paper's offline expansion, validation splits,
  on-the-fly batched augmentation and patch sampling;
* :mod:`.validate` - checking a data root and summarising it (``saunet data check``).

Nothing here reads data at import time.
"""

from saunet.data.datasets import load_dataset, resolve_data_root
from saunet.data.fov import estimate_fov
from saunet.data.io import read_image, read_mask, write_png

__all__ = [
    "load_dataset",
    "resolve_data_root",
    "estimate_fov",
    "read_image",
    "read_mask",
    "write_png",
]
