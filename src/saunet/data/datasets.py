"""DRIVE, CHASE_DB1 and generic folder datasets (paper Sec. III-A).

A dataset is listed first (:func:`list_files`: file names only, every missing counterpart is a
:class:`DataError`), its headers are checked for matching sizes (:func:`check_files`), and only
then are the pixels read (:func:`load_dataset`), so a loader never dies deep inside a run.

Layouts below a data root (``--data-root`` or ``$SAUNET_DATA``; the root may also point at
the dataset folder itself):

* ``DRIVE/{training,test}/images/NN_{training,test}.tif``, ``1st_manual/NN_manual1.gif``,
  ``mask/NN_{training,test}_mask.gif``, and ``test/2nd_manual/NN_manual2.gif``.
  Split: training 21..40, test 01..20 (official).
* ``CHASEDB1/Image_NNX.jpg`` (X = L/R) with ``_1stHO.png`` labels, ``_2ndHO.png`` second
  observer and optional ``_mask.png`` (not in the original release; estimated when absent).
  Split (the paper's): Image_01L..Image_10R train (20), Image_11L..Image_14R test (8).
  ``CHASE_DB1`` is accepted as the folder name too.
* ``folder``: see :mod:`saunet.data.folder` for the pairing rule.

Sample dict (one per image)::

    image         float32 (H, W, 3) in [0, 1]
    label         bool (H, W), first observer
    fov           bool (H, W), field of view (read, or estimated: ``fov_source``)
    second_label  bool (H, W), second observer (DRIVE test, CHASE_DB1) - only where present
    name          str, e.g. "01_test", "Image_11L"
    size          (H, W), original size
    path          str, the image file
    fov_source    "mask" or "estimated"
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from saunet.data.folder import folder_files
from saunet.data.fov import estimate_fov
from saunet.data.io import SampleFiles, image_size, read_image, read_mask
from saunet.errors import DataError, UserError

__all__ = [
    "DATASETS",
    "resolve_data_root",
    "dataset_dir",
    "list_files",
    "check_files",
    "read_sample",
    "load_dataset",
    "positive_fraction",
]

log = logging.getLogger(__name__)

DATASETS = ("drive", "chase", "folder")
_SPLITS = ("train", "test", "all")


def resolve_data_root(root: str | os.PathLike | None) -> Path:
    """The data root: ``root`` if given, else ``$SAUNET_DATA``.

    Raises:
        DataError: neither is set, or the folder does not exist.
    """
    if root is None or str(root) == "":
        root = os.environ.get("SAUNET_DATA") or None
    if root is None:
        raise DataError("no data root: pass --data-root or set SAUNET_DATA")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"{path}: data root is not a folder; pass --data-root or set SAUNET_DATA")
    return path


def dataset_dir(name: str, root: Path) -> Path:
    """The dataset's folder below ``root`` (or ``root`` itself if it is that folder)."""
    if name == "drive":
        for cand in (root / "DRIVE", root):
            if (cand / "training").is_dir() or (cand / "test").is_dir():
                return cand
        raise DataError(
            f"{root / 'DRIVE'}: DRIVE folder not found (expected DRIVE/training and DRIVE/test "
            "below the data root)"
        )
    if name == "chase":
        for cand in (root / "CHASEDB1", root / "CHASE_DB1", root):
            if cand.is_dir() and any(cand.glob("Image_*.jpg")):
                return cand
        raise DataError(
            f"{root / 'CHASEDB1'}: CHASE_DB1 folder not found or has no Image_*.jpg "
            "(expected CHASEDB1/Image_01L.jpg ... below the data root)"
        )
    raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: missing {what}; restore it from the original dataset release")
    return path


def _all_or_none(paths: list[Path], what: str) -> list[Path | None]:
    present = [p.is_file() for p in paths]
    if any(present) and not all(present):
        missing = paths[present.index(False)]
        raise DataError(f"{missing}: missing {what} (others are present); restore the file")
    return list(paths) if all(present) else [None] * len(paths)


def _drive_files(base: Path, split: str) -> list[SampleFiles]:
    if split == "all":
        return _drive_files(base, "train") + _drive_files(base, "test")
    sub, ids = ("training", range(21, 41)) if split == "train" else ("test", range(1, 21))
    d = base / sub
    if not (d / "images").is_dir():
        raise DataError(f"{d / 'images'}: DRIVE {sub} images folder not found")
    names = [f"{i:02d}_{sub}" for i in ids]
    images = [_need(d / "images" / f"{n}.tif", "DRIVE image") for n in names]
    labels = [_need(d / "1st_manual" / f"{i:02d}_manual1.gif", "first-observer label") for i in ids]
    fovs = [_need(d / "mask" / f"{n}_mask.gif", "FOV mask") for n in names]
    seconds: list[Path | None] = [None] * len(names)
    if split == "test" and (d / "2nd_manual").is_dir():
        seconds = _all_or_none(
            [d / "2nd_manual" / f"{i:02d}_manual2.gif" for i in ids], "second-observer label"
        )
    return [SampleFiles(*t) for t in zip(names, images, labels, fovs, seconds, strict=True)]


_CHASE_NAME = re.compile(r"^Image_(\d{2})([LR])$")


def _chase_files(base: Path, split: str) -> list[SampleFiles]:
    names = sorted(p.stem for p in base.glob("Image_*.jpg") if _CHASE_NAME.match(p.stem))
    expected = [f"Image_{i:02d}{e}" for i in range(1, 15) for e in "LR"]
    for n in expected:
        if n not in names:
            raise DataError(f"{base / (n + '.jpg')}: missing CHASE_DB1 image (expected 28 images)")
    if split == "train":
        names = expected[:20]
    elif split == "test":
        names = expected[20:]
    else:
        names = expected
    images = [base / f"{n}.jpg" for n in names]
    labels = [_need(base / f"{n}_1stHO.png", "first-observer label") for n in names]
    fovs = _all_or_none([base / f"{n}_mask.png" for n in names], "FOV mask")
    seconds = _all_or_none([base / f"{n}_2ndHO.png" for n in names], "second-observer label")
    return [SampleFiles(*t) for t in zip(names, images, labels, fovs, seconds, strict=True)]


def list_files(
    name: str, root: str | os.PathLike | None, split: str, *, folder: dict | None = None
) -> list[SampleFiles]:
    """The files of one split, checking that every counterpart exists (no pixels read).

    Raises:
        DataError: a missing folder, image, label or mask, naming it.
        UserError: an unknown dataset or split.
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in _SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(_SPLITS)}")
    if name == "folder":
        return folder_files(folder, root, split)
    base = dataset_dir(name, resolve_data_root(root))
    return _drive_files(base, split) if name == "drive" else _chase_files(base, split)


def check_files(files: list[SampleFiles]) -> list[tuple[int, int]]:
    """Check from the file headers that labels and masks have their image's size.

    Returns:
        ``(H, W)`` per sample.

    Raises:
        DataError: an unreadable header or a size mismatch, naming the file.
    """
    sizes = []
    for f in files:
        hw = image_size(f.image)
        for kind, p in (("label", f.label), ("FOV mask", f.fov), ("second label", f.second_label)):
            if p is None:
                continue
            other = image_size(p)
            if other != hw:
                raise DataError(
                    f"{p}: {kind} is {other[1]}x{other[0]} (WxH) but image {f.image.name} is "
                    f"{hw[1]}x{hw[0]}; labels and masks must have their image's size"
                )
        sizes.append(hw)
    return sizes


def read_sample(f: SampleFiles) -> dict[str, Any]:
    """Read one sample's pixels into the sample dict described in the module docstring."""
    image = read_image(f.image)
    hw = image.shape[:2]
    sample: dict[str, Any] = {"image": image, "label": read_mask(f.label)}
    if f.fov is not None:
        sample["fov"], sample["fov_source"] = read_mask(f.fov), "mask"
    else:
        sample["fov"], sample["fov_source"] = estimate_fov(image), "estimated"
    if f.second_label is not None:
        sample["second_label"] = read_mask(f.second_label)
    for key, path in (("label", f.label), ("fov", f.fov), ("second_label", f.second_label)):
        if key in sample and sample[key].shape != hw:  # header and pixels disagree
            raise DataError(f"{path}: size {sample[key].shape} differs from image {hw}")
    sample.update(name=f.name, size=(int(hw[0]), int(hw[1])), path=str(f.image))
    return sample


def load_dataset(
    name: str, root: str | os.PathLike | None, split: str, *, folder: dict | None = None
) -> list[dict[str, Any]]:
    """Load one split of a dataset as a list of sample dicts (module docstring).

    Args:
        name: ``drive``, ``chase`` or ``folder``.
        root: data root; ``None`` means ``$SAUNET_DATA``. For ``folder`` it is the base of
            relative folder paths (and may be ``None`` when they are absolute).
        split: ``train`` or ``test`` (``all`` for both; for ``folder``, see
            :func:`saunet.data.folder.folder_files`).
        folder: for ``name="folder"``: ``{"images": DIR, "labels": DIR, "masks": DIR|None}``.

    Raises:
        DataError: missing/corrupt files or size mismatches, before any pixel is loaded
            where the headers tell.
    """
    files = list_files(name, root, split, folder=folder)
    check_files(files)
    samples = [read_sample(f) for f in files]
    n_est = sum(s["fov_source"] == "estimated" for s in samples)
    if n_est:
        log.info(
            "%s %s: FOV estimated from the image for %d of %d", name, split, n_est, len(samples)
        )
    log.debug("loaded %s %s: %d samples", name, split, len(samples))
    return samples


def positive_fraction(samples: list[dict[str, Any]], key: str = "label") -> float:
    """Pooled fraction of positive pixels over all samples (whole images)."""
    pos = sum(int(np.count_nonzero(s[key])) for s in samples)
    tot = sum(s[key].size for s in samples)
    return pos / tot if tot else 0.0
