"""Inputs of a batch: image files, folders and globs as :class:`Source` objects, the demo
photograph, and the FOV mask of each (``saunet segment``, ``saunet measure``)."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saunet.data.io import IMAGE_EXTENSIONS, read_image
from saunet.errors import UserError

__all__ = ["Source", "demo_source", "expand_inputs", "match_fov_masks"]

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Source:
    """One input image: a file, or an in-memory array (the demo image)."""

    name: str
    input: str
    path: Path | None = None
    loader: Callable[[], np.ndarray] | None = field(default=None, compare=False, repr=False)

    def load(self) -> np.ndarray:
        """``float32 (H, W, 3)`` in [0, 1] (conversions of :func:`saunet.data.io.read_image`)."""
        if self.loader is not None:
            return self.loader()
        assert self.path is not None
        return read_image(self.path)


def demo_source() -> Source:
    """The fundus photograph bundled with scikit-image (``skimage.data.retina()``, public domain)."""

    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(data.retina(), dtype=np.float32) / 255.0

    return Source("retina", "skimage.data.retina()", None, load)


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def expand_inputs(specs: Sequence[str]) -> list[Source]:
    """Files, folders (their image files, not recursive) and globs -> sorted, unique sources.

    Explicit files are taken whatever their extension; folders and globs contribute files with
    an extension of :data:`saunet.data.io.IMAGE_EXTENSIONS`.

    Raises:
        UserError: a path that does not exist, a glob or folder without images, or two
            inputs with the same file stem (their outputs would collide).
    """
    found: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if _is_image(q))
            if not files:
                raise UserError(f"{spec}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        elif p.is_file():
            files = [p]
        elif _GLOB_CHARS & set(spec):
            files = sorted(Path(q) for q in glob.glob(spec) if _is_image(Path(q)))
            if not files:
                raise UserError(f"{spec}: pattern matches no image files")
        else:
            raise UserError(f"{spec}: no such file or folder")
        found.extend(files)
    unique = sorted({os.path.abspath(f): f for f in found}.values(), key=lambda q: str(q))
    by_stem: dict[str, Path] = {}
    for f in unique:
        if f.stem in by_stem:
            raise UserError(
                f"{by_stem[f.stem]} and {f} have the same name stem; their outputs would "
                "collide: segment them into different --out folders"
            )
        by_stem[f.stem] = f
    return [Source(f.stem, str(f), f) for f in unique]


def match_fov_masks(sources: Sequence[Source], fov: str | os.PathLike | None) -> dict[str, Path]:
    """FOV mask file per source name: one file for one input, or a folder matched by stem.

    In a folder, the mask of ``<stem>.<ext>`` is ``<stem>``, ``<stem>_mask`` or ``<stem>_fov``
    with an image extension. Every input must have one.
    """
    if fov is None:
        return {}
    p = Path(fov)
    if p.is_file():
        if len(sources) != 1:
            raise UserError(
                f"--fov {fov}: a mask file goes with exactly one input ({len(sources)} given); "
                "pass a folder of masks named after the images"
            )
        return {sources[0].name: p}
    if not p.is_dir():
        raise UserError(f"--fov {fov}: no such mask file or folder")
    masks = {q.stem: q for q in sorted(p.iterdir()) if _is_image(q)}
    out = {}
    for s in sources:
        hit = next(
            (masks[k] for k in (s.name, f"{s.name}_mask", f"{s.name}_fov") if k in masks), None
        )
        if hit is None:
            raise UserError(
                f"--fov {fov}: no mask for {s.input} (looked for {s.name}[_mask|_fov].*)"
            )
        out[s.name] = hit
    return out
