"""Measure many files: photographs (segmented first) or vessel masks in, one folder out.

For every input ``<stem>.<ext>`` the output folder gets ``<stem>_measure.png``
(:mod:`.picture`), and for the whole run ``measurements.csv`` (one row per input,
:data:`saunet.measure.image.MEASUREMENT_FIELDS`; failed inputs too, with ``status =
"failed: ..."``), ``segments.csv`` (:data:`saunet.measure.image.SEGMENT_FIELDS`) and
``index.html`` (:mod:`.html`). Undefined values are empty cells.

Output rules are those of ``saunet segment`` (:mod:`saunet.inference.segment_files`): all
planned files are checked before any work and nothing is replaced without ``overwrite``;
every file is written atomically; an input that cannot be read or measured is logged by
name, recorded and skipped, and the caller turns that into exit status 1.

Photographs go through :meth:`saunet.inference.segmenter.Segmenter.segment` with its
defaults (scale policy, the weights' threshold, FOV given or estimated), the path behind
``saunet segment``. Masks are read with :func:`saunet.data.io.read_mask` (non-zero =
vessel after a luminance conversion, so palette GIFs and 1-bit PNGs read right); their FOV
is the ``fov`` mask, or the whole image when none is given.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from saunet.data.io import IMAGE_EXTENSIONS, read_mask, write_png
from saunet.errors import UserError
from saunet.inference.inputs import Source, match_fov_masks
from saunet.inference.segmenter import Segmenter
from saunet.measure.disc import Disc, locate_disc
from saunet.measure.html import index_html
from saunet.measure.image import MEASUREMENT_FIELDS, SEGMENT_FIELDS, ImageMeasures, measure_mask
from saunet.measure.picture import render_measures
from saunet.measure.units import known_field_angle, um_per_px
from saunet.utils.files import atomic_write_text

__all__ = [
    "MeasureReport",
    "RUN_FILES",
    "match_fovs",
    "picture_name",
    "planned_outputs",
    "measure_files",
]

log = logging.getLogger(__name__)

#: Files written once per run.
RUN_FILES = ("measurements.csv", "segments.csv", "index.html")


def picture_name(stem: str) -> str:
    return f"{stem}_measure.png"


def planned_outputs(sources: Sequence[Source], out_dir: Path) -> list[Path]:
    """Every file the run will write, pictures first."""
    return [out_dir / picture_name(s.name) for s in sources] + [out_dir / f for f in RUN_FILES]


@dataclass
class MeasureReport:
    """What :func:`measure_files` did: one row per input, and the segment rows."""

    rows: list[dict[str, Any]]
    segment_rows: list[dict[str, Any]]
    outputs: list[Path]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "ok"]


#: Suffixes that label files of one photograph carry in the public datasets (DRIVE
#: ``01_manual1.gif`` / ``01_test_mask.gif``, CHASE_DB1 ``Image_11L_1stHO.png`` /
#: ``Image_11L_mask.png``): stripped to pair a vessel mask with its FOV mask.
_LABEL_SUFFIX = re.compile(r"(_manual[12]|_[12](st|nd)HO|_mask|_fov|_test|_training)+$")


def match_fovs(sources: Sequence[Source], fov: str | os.PathLike | None) -> dict[str, Path]:
    """FOV mask per source: :func:`saunet.inference.segment_files.match_fov_masks`, and for a
    folder whose names differ only by dataset suffixes (:data:`_LABEL_SUFFIX`), by the
    stem without them (``01_manual1`` -> ``01_test_mask``)."""
    p = None if fov is None else Path(fov)
    if p is None or not p.is_dir():
        return match_fov_masks(sources, fov)
    try:
        return match_fov_masks(sources, fov)
    except UserError:
        pass
    by_key: dict[str, list[Path]] = {}
    for q in sorted(p.iterdir()):
        if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS:
            by_key.setdefault(_LABEL_SUFFIX.sub("", q.stem), []).append(q)
    out = {}
    for s in sources:
        hits = by_key.get(_LABEL_SUFFIX.sub("", s.name), [])
        if len(hits) != 1:
            what = "no mask" if not hits else f"{len(hits)} masks"
            raise UserError(
                f"--fov {fov}: {what} for {s.input} (looked for {s.name}[_mask|_fov].* and "
                "the same name without _manual1/_1stHO/_test suffixes); name the masks "
                "after the images"
            )
        out[s.name] = hits[0]
    return out


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        return f"{float(v):.6g}"
    return v


def _csv(fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(r.get(k)) for k in fields} for r in rows)
    return buf.getvalue()


def _scale(src: Source, fov: np.ndarray, given: float | None, angle: float | None):
    """``(um_per_px, note)``: the user's scale or field angle, else a recognised dataset's."""
    if given is None and angle is None:
        known = known_field_angle(src.name)
        if known is not None:
            return um_per_px(fov, field_angle=known[1]), f"{known[0]} {known[1]:g} deg"
        return None, ""
    return um_per_px(fov, given=given, field_angle=angle), ""


def _read(
    src: Source, fov_path: Path | None, segmenter: Segmenter | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read (and segment) one input: ``(vessel mask, FOV, photograph or None)``."""
    if segmenter is None:
        assert src.path is not None
        mask = read_mask(src.path)
        fov = read_mask(fov_path) if fov_path is not None else np.ones(mask.shape, bool)
        if fov.shape != mask.shape:
            raise ValueError(
                f"FOV mask {fov_path} is {fov.shape[1]}x{fov.shape[0]} px but the vessel mask "
                f"is {mask.shape[1]}x{mask.shape[0]} px; pass the FOV of this image"
            )
        return mask, fov, None
    image = src.load()
    res = segmenter.segment(image, fov=read_mask(fov_path) if fov_path else None)
    return res.mask, res.fov, image


def _measure(
    src: Source,
    read: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    given_disc: Disc | None,
    um: float | None,
    angle: float | None,
    out: Path,
) -> ImageMeasures:
    """Measure one read input and write its picture."""
    mask, fov, image = read
    scale, _ = _scale(src, fov, um, angle)
    disc = given_disc
    if disc is None:
        try:
            disc = locate_disc(mask, fov, image)
        except Exception as exc:  # a failed localisation leaves the zones empty, not the row
            log.warning("%s: optic disc not located (%s)", src.input, exc)
    res = measure_mask(mask, fov, name=src.name, disc=disc, um_per_px=scale)
    write_png(out / picture_name(src.name), render_measures(res, mask, image))
    return res


def _fail(row: dict[str, Any], src: Source, exc: BaseException) -> None:
    msg = str(exc).removeprefix(f"{src.input}: ")
    log.warning("skipped %s: %s", src.input, msg)
    log.debug("traceback of %s", src.input, exc_info=exc)
    row.update(status=f"failed: {msg}")


def measure_files(
    sources: Sequence[Source],
    out_dir: str | os.PathLike,
    *,
    segmenter: Segmenter | Callable[[], Segmenter] | None = None,
    fov: str | os.PathLike | None = None,
    um: float | None = None,
    field_angle: float | None = None,
    disc: Disc | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> MeasureReport:
    """Measure ``sources`` into ``out_dir`` (module docstring).

    Args:
        sources: inputs (:func:`saunet.inference.segment_files.expand_inputs`).
        out_dir: output folder (created).
        segmenter: segments photographs (or a function making it, called after the output
            check); None means the inputs are vessel masks.
        fov: FOV mask file (one input) or folder of masks matched by stem.
        um: micrometres per pixel, as given; field_angle: camera field angle (degrees) for
            :func:`saunet.measure.units.um_per_px`; neither: recognised datasets only.
        disc: the optic disc of every input (``--disc``); None locates it per image.
        overwrite: replace existing outputs; otherwise any existing one is a UserError.

    Raises:
        UserError: no inputs, existing outputs without ``overwrite``, a bad ``fov``.
    """
    if not sources:
        raise UserError("no input images")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    fov_paths = match_fovs(sources, fov)
    planned = planned_outputs(sources, out)
    if not overwrite:
        existing = next((p for p in planned if p.exists()), None)
        if existing is not None:
            raise UserError(f"{existing}: output exists; pass --overwrite to replace it")
    if segmenter is not None and not isinstance(segmenter, Segmenter):
        segmenter = segmenter()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    seg_rows: list[dict[str, Any]] = []
    pictures: dict[str, str] = {}
    pending: deque[tuple[dict[str, Any], Source, Future[ImageMeasures]]] = deque()

    def finish_oldest() -> None:
        row, src, fut = pending.popleft()
        try:
            res = fut.result()
        except Exception as exc:  # one bad input must not stop the folder
            _fail(row, src, exc)
            return
        row.update(res.row)
        seg_rows.extend(res.segment_rows)
        pictures[src.name] = picture_name(src.name)

    # Image i is measured on a worker thread while image i + 1 is read and segmented: the
    # network's convolutions release the GIL (benchmarks/bench_measure.py --folder).
    pool = ThreadPoolExecutor(1, thread_name_prefix="saunet-measure")
    try:
        for src in tqdm(sources, desc="measure", unit="img", disable=not progress):
            row: dict[str, Any] = {"name": src.name}
            rows.append(row)
            try:
                read = _read(src, fov_paths.get(src.name), segmenter)
            except Exception as exc:
                _fail(row, src, exc)
                continue
            pending.append((row, src, pool.submit(_measure, src, read, disc, um, field_angle, out)))
            del read
            while len(pending) > 1:
                finish_oldest()
        while pending:
            finish_oldest()
    finally:
        for _, _, fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)
        for row in rows:  # interrupted: these images were not measured
            row.setdefault("status", "interrupted")
        atomic_write_text(out / "measurements.csv", _csv(MEASUREMENT_FIELDS, rows))
        atomic_write_text(out / "segments.csv", _csv(SEGMENT_FIELDS, seg_rows))
        notes = [
            f"{len(rows)} images, {sum(r['status'] != 'ok' for r in rows)} failed. "
            "Definitions and units: docs/measure.md; empty cells are undefined values.",
        ]
        page = index_html("saunet measure", MEASUREMENT_FIELDS, rows, pictures, notes)
        atomic_write_text(out / "index.html", page)
    return MeasureReport(rows, seg_rows, planned)
