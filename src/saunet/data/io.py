"""Reading fundus images and binary masks, writing PNGs (paper Sec. III-A: input is RGB / 255).

Every format Pillow reads is accepted (tif, gif, jpg, png, ppm, bmp). Conversions are explicit:

* :func:`read_image` returns ``float32 (H, W, 3)`` in ``[0, 1]``:

  - ``RGB`` 8-bit: divided by 255 (the authors' preprocessing);
  - grayscale ``L`` / 1-bit ``1``: the single channel is replicated to R, G and B;
  - 16-bit grayscale (``I;16*``, or ``I`` holding values <= 65535): divided by 65535, replicated;
  - ``RGBA`` / ``LA`` / palette with transparency: composited **on black**
    (``rgb * alpha``), so transparent areas read as background, like outside a FOV;
  - palette ``P``: expanded through its palette to RGB;
  - ``CMYK`` / ``YCbCr`` / ``LAB`` / ``HSV``: converted to RGB by Pillow;
  - anything else (e.g. 32-bit float ``F``) is refused with a :class:`DataError`.

  Only the first frame of a multi-frame file is read; EXIF orientation is *not* applied
  (labels never carry it, so applying it to the image alone would misalign them).

  Images above :func:`pixel_limit` (Pillow's decompression-bomb guard, 178,956,970 pixels,
  unless ``$SAUNET_MAX_PIXELS`` or the ``max_pixels`` argument of :func:`open_image`
  raises it) are refused from their header, with the setting that admits them.

* :func:`read_mask` returns ``bool (H, W)``: Pillow's luminance (``"L"``) conversion, then
  ``> 127``. Going through luminance is what makes palette GIFs whose raw indices are 0/1
  (DRIVE ``2nd_manual``: index 1 is white) and 1-bit PNGs (CHASE_DB1 labels) come out right.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from saunet.errors import DataError
from saunet.utils.files import atomic_write

__all__ = [
    "IMAGE_EXTENSIONS",
    "SampleFiles",
    "open_image",
    "image_size",
    "pixel_limit",
    "read_image",
    "read_mask",
    "write_png",
]

log = logging.getLogger(__name__)

#: File name extensions (lower case) treated as images by the folder reader.
IMAGE_EXTENSIONS = (
    ".tif",
    ".tiff",
    ".gif",
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".pgm",
    ".pbm",
    ".bmp",
)

_OPEN_ERRORS = (
    OSError,
    ValueError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
    SyntaxError,
)


#: Environment variable raising (or, with ``0``, removing) the image size limit.
MAX_PIXELS_ENV = "SAUNET_MAX_PIXELS"


def pixel_limit() -> int | None:
    """Largest image (width x height, pixels) opened; ``None`` means no limit.

    ``$SAUNET_MAX_PIXELS`` when set (``0`` = no limit), else the size at which Pillow refuses
    a file as a possible decompression bomb (twice ``Image.MAX_IMAGE_PIXELS``).

    Raises:
        DataError: the variable is not a non-negative integer.
    """
    value = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    if not value:
        limit = Image.MAX_IMAGE_PIXELS
        return None if limit is None else 2 * int(limit)
    if not value.isdigit():
        raise DataError(f"{MAX_PIXELS_ENV}={value!r}: expected a number of pixels (0 = no limit)")
    return int(value) or None


@dataclass(frozen=True)
class SampleFiles:
    """The files of one sample; ``fov``/``second_label`` are ``None`` when absent."""

    name: str
    image: Path
    label: Path
    fov: Path | None = None
    second_label: Path | None = None


def open_image(
    path: str | os.PathLike, *, decode: bool = True, max_pixels: int | None = None
) -> Image.Image:
    """Open ``path`` with Pillow (first frame), decoding the pixels unless ``decode`` is False.

    ``max_pixels`` (width x height) overrides :func:`pixel_limit`; ``0`` means no limit.

    Raises:
        DataError: the file is missing, not an image, truncated/corrupt, or larger than the
            pixel limit (the message names the setting that admits it).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the data root and file names")
    limit = pixel_limit() if max_pixels is None else (max_pixels or None)
    try:
        # Pillow's own guard is off here (it reads a process-wide setting); the same check
        # is made below from the header, against this call's limit.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _pillow_guard_off():
                im = Image.open(path)
        w, h = im.size
        if limit is not None and w * h > limit:
            im.close()
            raise DataError(
                f"{path}: image is {w} x {h} = {w * h:,} pixels, above the limit of "
                f"{limit:,} (a guard against decompression bombs); if you trust the file, "
                f"set {MAX_PIXELS_ENV}={w * h} (or 0 for no limit) and run again"
            )
        if decode:
            im.load()
    except _OPEN_ERRORS as exc:
        raise DataError(
            f"{path}: cannot read image ({exc.__class__.__name__}: {exc}); "
            "replace the file with an intact copy"
        ) from exc
    return im


_guard_lock = threading.Lock()


@contextlib.contextmanager
def _pillow_guard_off() -> Iterator[None]:
    """Switch off Pillow's process-wide pixel limit while one file's header is parsed."""
    with _guard_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image from its header only (cheap; used to validate before loading)."""
    im = open_image(path, decode=False)
    try:
        w, h = im.size
    finally:
        im.close()
    return h, w


def _to_rgb_float(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.float32) / 255.0
    if mode in ("L", "1"):
        g = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.float32)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DataError(
                f"{path}: 32-bit integer image with values outside 0..65535; "
                "save it as 8- or 16-bit PNG/TIFF"
            )
        g = a / 65535.0
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "P":
        if "transparency" in im.info:
            return _to_rgb_float(im.convert("RGBA"), path)
        return _to_rgb_float(im.convert("RGB"), path)
    if mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[:, :, :3] * rgba[:, :, 3:4]  # composite on black
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    raise DataError(
        f"{path}: unsupported image mode {mode!r}; save it as 8-bit RGB or 8/16-bit grayscale"
    )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a fundus image as ``float32 (H, W, 3)`` in ``[0, 1]`` (conversions: module doc).

    Raises:
        DataError: naming the file when it is missing, unreadable or of an unsupported mode.
    """
    path = Path(path)
    im = open_image(path)
    try:
        arr = _to_rgb_float(im, path)
    finally:
        im.close()
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a binary label or FOV mask as ``bool (H, W)``: luminance (``"L"``) > 127.

    16-bit masks are scaled to 8 bit first (``/ 257``); an alpha channel is ignored.

    Raises:
        DataError: naming the file when it is missing or unreadable.
    """
    path = Path(path)
    im = open_image(path)
    try:
        if im.mode.startswith("I;16") or im.mode == "I":
            a = np.asarray(im).astype(np.float64)
            return a / 257.0 > 127
        if im.mode == "F":
            raise DataError(f"{path}: float masks are not supported; save it as an 8-bit PNG")
        return np.asarray(im.convert("L")) > 127
    finally:
        im.close()


def _to_uint8(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise TypeError(f"write_png: expected uint8, bool or float in [0, 1], got {a.dtype}")


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` as PNG, atomically.

    ``uint8`` is written as is, ``bool`` as 0/255 and floats as ``round(clip(x, 0, 1) * 255)``.
    The PNG goes to a temporary file in the same directory and is moved into place with
    :func:`os.replace`, so readers never see a half-written file. Parent folders are created.
    """
    path = Path(path)
    a = _to_uint8(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(f"write_png: expected (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)

    # Compression level 1: ~2.5x faster than Pillow's default 6 for ~14% larger files;
    # PNG writing dominated `saunet segment`'s time per image.
    atomic_write(path, lambda tmp: Image.fromarray(a).save(tmp, format="PNG", compress_level=1))
    log.debug("wrote %s", path)
