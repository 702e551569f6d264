"""Generic folder dataset: the user's own fundus images with labels and optional FOV masks.

Configuration (``DataConfig.folder`` or ``--images/--labels/--masks``)::

    {"images": DIR, "labels": DIR, "masks": DIR or None}

or one such mapping per split: ``{"train": {...}, "test": {...}}``. A flat mapping serves
every split (``all``, ``train`` and ``test`` return the same files). Relative folders are
resolved against the data root when one is given, else against the current directory.
Images, labels and masks may share one folder.

**Pairing rule.** Files are matched on a *key*, compared case-insensitively:

* an image ``S.ext`` has the keys ``S`` and ``S`` without a trailing
  ``_training``, ``_test``, ``_image`` or ``_img``;
* a label's key is its stem without a trailing ``_manual1``, ``_1stHO``, ``_label``,
  ``_labels``, ``_gt``, ``_vessels``, ``_vessel``, ``_seg`` or ``.ah`` (or the stem itself);
* a mask's key is its stem without a trailing ``_mask``, ``_fov`` or ``_fovmask``.

So ``21_training.tif`` pairs with ``21_manual1.gif`` and ``21_training_mask.gif`` (DRIVE),
``Image_01L.jpg`` with ``Image_01L_1stHO.png`` (CHASE_DB1), ``im0001.ppm`` with
``im0001.ah.ppm`` (STARE), ``01_dr.JPG`` with ``01_dr.tif`` and ``01_dr_mask.tif`` (HRF).
When images share a folder with labels or masks, files carrying a label, mask or
second-observer suffix (``_manual2``, ``_2ndHO``, ``.vk``) are not taken as images.

Every image needs exactly one label; when a masks folder is given every image needs exactly
one mask, otherwise the FOV is estimated (:func:`saunet.data.fov.estimate_fov`). A missing or
ambiguous counterpart is a :class:`DataError` naming the file; labels without an image are
logged and ignored. Extensions: :data:`saunet.data.io.IMAGE_EXTENSIONS` (any case).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from saunet.data.io import IMAGE_EXTENSIONS, SampleFiles
from saunet.errors import DataError, UserError

__all__ = ["IMAGE_SUFFIXES", "LABEL_SUFFIXES", "MASK_SUFFIXES", "folder_files"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = ("_training", "_test", "_image", "_img")
LABEL_SUFFIXES = (
    "_manual1",
    "_1stho",
    "_label",
    "_labels",
    "_gt",
    "_vessels",
    "_vessel",
    "_seg",
    ".ah",
)
MASK_SUFFIXES = ("_mask", "_fov", "_fovmask")
SECOND_SUFFIXES = ("_manual2", "_2ndho", ".vk")


def _strip(stem: str, suffixes: tuple[str, ...]) -> str | None:
    low = stem.lower()
    for suf in sorted(suffixes, key=len, reverse=True):
        if low.endswith(suf) and len(low) > len(suf):
            return low[: -len(suf)]
    return None


def _image_files(d: Path) -> list[Path]:
    if not d.is_dir():
        raise DataError(f"{d}: folder not found; check --images/--labels/--masks and --data-root")
    return sorted(
        p
        for p in d.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _index(files: list[Path], suffixes: tuple[str, ...], what: str) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for p in files:
        key = _strip(p.stem, suffixes) or p.stem.lower()
        if key in index:
            raise DataError(
                f"{p}: {what} is ambiguous with {index[key].name} (both pair with key {key!r}); "
                "remove or rename one"
            )
        index[key] = p
    return index


def _match(
    image: Path, index: dict[str, Path], what: str, d: Path, suffixes: tuple[str, ...]
) -> Path:
    stem = image.stem.lower()
    keys = [stem] + [k for k in [_strip(image.stem, IMAGE_SUFFIXES)] if k]
    found = [index[k] for k in dict.fromkeys(keys) if k in index]
    if len(found) > 1:
        raise DataError(
            f"{image}: {what} is ambiguous ({found[0].name} and {found[1].name}); remove one"
        )
    if not found:
        key = keys[-1]
        examples = ", ".join(f"{key}{s}.*" for s in ("",) + suffixes[:3])
        raise DataError(f"{image}: no {what} in {d} (expected a file named {examples})")
    return found[0]


def _resolve(d: str | os.PathLike | None, base: Path) -> Path | None:
    if d is None or str(d) == "":
        return None
    p = Path(d).expanduser()
    return p if p.is_absolute() else base / p


def _one_folder(cfg: dict, base: Path, split: str) -> list[SampleFiles]:
    unknown = set(cfg) - {"images", "labels", "masks"}
    if unknown:
        raise UserError(
            f"folder dataset: unknown keys {sorted(unknown)}; use images, labels, masks"
        )
    images_dir = _resolve(cfg.get("images"), base)
    labels_dir = _resolve(cfg.get("labels"), base)
    masks_dir = _resolve(cfg.get("masks"), base)
    if images_dir is None or labels_dir is None:
        raise UserError("folder dataset needs an images and a labels folder (--images, --labels)")
    candidates = _image_files(images_dir)
    label_files = _image_files(labels_dir)
    mask_files = _image_files(masks_dir) if masks_dir is not None else []
    if images_dir in (labels_dir, masks_dir):
        other = LABEL_SUFFIXES + MASK_SUFFIXES + SECOND_SUFFIXES
        candidates = [p for p in candidates if _strip(p.stem, other) is None]
    if labels_dir == images_dir:
        label_files = [p for p in label_files if _strip(p.stem, LABEL_SUFFIXES) is not None]
    if masks_dir is not None and masks_dir in (images_dir, labels_dir):
        mask_files = [p for p in mask_files if _strip(p.stem, MASK_SUFFIXES) is not None]
    if not candidates:
        exts = " ".join(IMAGE_EXTENSIONS)
        raise DataError(f"{images_dir}: no images found ({exts}); check --images")
    if not label_files:
        raise DataError(f"{labels_dir}: no label images found; check --labels")
    labels = _index(label_files, LABEL_SUFFIXES, "label")
    masks = _index(mask_files, MASK_SUFFIXES, "mask") if masks_dir is not None else None
    out, used = [], set()
    for img in candidates:
        lab = _match(img, labels, "label", labels_dir, LABEL_SUFFIXES)
        used.add(lab)
        fov = None
        if masks is not None:
            fov = _match(img, masks, "FOV mask", masks_dir, MASK_SUFFIXES)
        out.append(SampleFiles(img.stem, img, lab, fov, None))
    extra = [p.name for p in label_files if p not in used]
    if extra:
        log.warning(
            "%s: %d labels without an image ignored (e.g. %s)", labels_dir, len(extra), extra[0]
        )
    log.debug("folder %s (%s): %d samples", images_dir, split, len(out))
    return out


def folder_files(
    folder: dict | None, root: str | os.PathLike | None, split: str
) -> list[SampleFiles]:
    """The samples of a folder dataset (pairing rule in the module docstring).

    Raises:
        DataError: an empty or missing folder, a missing or ambiguous counterpart.
        UserError: a missing or malformed ``folder`` mapping.
    """
    if not isinstance(folder, dict) or not folder:
        raise UserError(
            "folder dataset needs folders: pass --images DIR --labels DIR [--masks DIR] "
            "(config: data.folder: {images: DIR, labels: DIR})"
        )
    base = Path(root).expanduser() if root else Path.cwd()
    if root and not base.is_dir():
        raise DataError(f"{base}: data root is not a folder; pass --data-root or set SAUNET_DATA")
    if "train" in folder or "test" in folder:
        splits = ["train", "test"] if split == "all" else [split]
        out: list[SampleFiles] = []
        for s in splits:
            if s not in folder:
                raise UserError(f"folder dataset: no {s!r} entry in the folder configuration")
            out += _one_folder(folder[s], base, s)
        return out
    return _one_folder(folder, base, split)
