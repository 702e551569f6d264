"""Segment many files: inputs, output planning, per-image outputs, summary CSV, sharding.

For every input image ``<stem>.<ext>`` up to three files are written into the output folder
(:class:`saunet.inference.encode.OutputSpec`; formats and sizes in docs/segment.md):

* ``<stem>_prob.png``: vessel probability, lossless 16-bit (or ``.tif``/``.npy`` float32),
  zero outside the FOV;
* ``<stem>_mask.png``: binary mask (0/255), ``prob >= threshold`` inside the FOV;
* ``<stem>_overlay.jpg``: the photograph with vessel pixels tinted green, outside the FOV
  dimmed (or ``.png``);

and one summary CSV (:data:`SUMMARY_FIELDS`, one row per input, failed ones too; ``seconds``
is the time from the start of an image's prediction until its files are written). Images go
through a pipeline: while the network runs on one, the next is decoded on a reader thread and
the previous one's files are encoded on a writer thread. Every file is written atomically
(temporary file + rename). Before any work, all planned outputs are checked: if one exists
and ``overwrite`` is False nothing is done (:class:`UserError` naming the first one). An
input that cannot be read or segmented is logged by name, recorded with
``status = "failed: ..."`` and skipped; the caller turns that into exit code 1.

Sharding (``torchrun``): with ``WORLD_SIZE = W > 1`` rank ``R`` segments ``inputs[R::W]`` of
the sorted input list and writes ``summary-rank{R}-of-{W}.csv``; a single process writes
``summary.csv``. No process group is needed, the ranks never talk to each other; the union of
the per-image outputs equals a single-process run, and the summary parts concatenated (minus
their headers) hold the rows of ``summary.csv``. Each rank checks only its own outputs.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from saunet.data.io import IMAGE_EXTENSIONS, read_image, read_mask, write_png
from saunet.errors import UserError
from saunet.inference.encode import OutputSpec, write_overlay, write_prob_map
from saunet.inference.overlay import overlay
from saunet.inference.segmenter import SegmentationResult, Segmenter
from saunet.utils.files import atomic_write_text

__all__ = [
    "SUMMARY_FIELDS",
    "Source",
    "SegmentReport",
    "demo_source",
    "expand_inputs",
    "match_fov_masks",
    "summary_name",
    "planned_outputs",
    "dist_from_env",
    "segment_files",
]

log = logging.getLogger(__name__)

SUMMARY_FIELDS = (
    "name", "input", "width", "height", "scale", "threshold", "fov_source",
    "vessel_fraction", "seconds", "status",
)  # fmt: skip
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


def summary_name(rank: int = 0, world: int = 1) -> str:
    return "summary.csv" if world <= 1 else f"summary-rank{rank}-of-{world}.csv"


def planned_outputs(
    sources: Sequence[Source], out_dir: Path, spec: OutputSpec | None = None
) -> list[Path]:
    """The output files of every source, in order."""
    spec = spec or OutputSpec()
    return [p for s in sources for p in spec.paths(out_dir, s.name).values()]


def dist_from_env() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` set by ``torchrun``; ``(0, 1)`` otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"RANK={rank} WORLD_SIZE={world}: inconsistent torchrun environment")
    return rank, world


@dataclass
class SegmentReport:
    """What :func:`segment_files` did: one summary row per input of this rank."""

    rows: list[dict[str, Any]]
    summary: Path
    outputs: list[Path]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "ok"]


def _write_summary(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


#: Images whose outputs may still be being written while the next one is predicted. One
#: keeps memory near a single image's (a 3504x2336 photograph and its maps are ~300 MB).
MAX_PENDING_WRITES = 1


def _load(src: Source, fov_path: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    return src.load(), (read_mask(fov_path) if fov_path is not None else None)


def _write_outputs(
    out_dir: Path, name: str, image: np.ndarray, res: SegmentationResult, spec: OutputSpec
) -> None:
    """The files of one image (runs on the writer thread; zlib and JPEG encoding free the GIL)."""
    paths = spec.paths(out_dir, name)
    if "prob" in paths:
        prob = np.where(res.fov, res.prob, 0.0).astype(np.float32)
        write_prob_map(paths["prob"], prob, spec.prob_format)
    if "mask" in paths:
        write_png(paths["mask"], res.mask)
    if "overlay" in paths:
        write_overlay(paths["overlay"], overlay(image, res.mask, fov=res.fov), spec.overlay_format)


def _result_fields(res: SegmentationResult, seconds: float) -> dict[str, Any]:
    h, w = res.prob.shape
    return {
        "width": w, "height": h, "scale": f"{res.scale:.4g}", "threshold": f"{res.threshold:.4g}",
        "fov_source": res.fov_source, "vessel_fraction": f"{res.vessel_fraction:.5f}",
        "seconds": f"{seconds:.2f}", "status": "ok",
    }  # fmt: skip


class _InlineExecutor:
    """Runs each submitted call at once on the calling thread (``pipeline=False``)."""

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:
            fut.set_exception(exc)
        return fut


def _executor(threaded: bool, name: str) -> ThreadPoolExecutor | _InlineExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix=name) if threaded else _InlineExecutor()


def _fail(row: dict[str, Any], src: Source, exc: BaseException) -> None:
    msg = str(exc).removeprefix(f"{src.input}: ")
    log.warning("skipped %s: %s", src.input, msg)
    log.debug("traceback of %s", src.input, exc_info=exc)
    row["status"] = f"failed: {msg}"


def segment_files(
    segmenter: Segmenter | Callable[[], Segmenter],
    sources: Sequence[Source],
    out_dir: str | os.PathLike,
    *,
    fov: str | os.PathLike | None = None,
    scale: str | float | None = "auto",
    threshold: float | None = None,
    tta: bool | None = None,
    field_angle: float | None = None,
    overwrite: bool = False,
    outputs: OutputSpec | None = None,
    rank: int | None = None,
    world: int | None = None,
    progress: bool = True,
    pipeline: bool = True,
) -> SegmentReport:
    """Segment ``sources`` (this rank's share) into ``out_dir``; see the module docstring.

    Args:
        segmenter: the weights and backend (:class:`saunet.inference.segmenter.Segmenter`), or a
            function making it, called after the output check (loading can be slow).
        sources: all inputs (:func:`expand_inputs`, :func:`demo_source`), the same on every rank.
        out_dir: output folder (created).
        fov: FOV mask file (one input) or folder of masks (:func:`match_fov_masks`).
        scale, threshold, tta, field_angle: passed to :meth:`Segmenter.segment`.
        overwrite: replace existing outputs; otherwise any existing one is a UserError.
        outputs: which files, in which formats (default: all three, 16-bit PNG map, JPEG
            overlay).
        rank, world: shard; read from ``RANK``/``WORLD_SIZE`` when None.
        progress: show a tqdm bar (rank 0 only).
        pipeline: decode and write on background threads; False does every step on the
            calling thread, one image after the other (same outputs; for benchmarks).

    Raises:
        UserError: existing outputs without ``overwrite``, or a bad ``fov`` argument.
    """
    if rank is None or world is None:
        rank, world = dist_from_env()
    if not sources:
        raise UserError("no input images")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    fov_paths = match_fov_masks(sources, fov)
    share = list(sources)[rank::world]
    summary = out / summary_name(rank, world)
    spec = outputs or OutputSpec()
    planned = planned_outputs(share, out, spec)
    if not overwrite:
        existing = next((p for p in [*planned, summary] if p.exists()), None)
        if existing is not None:
            raise UserError(f"{existing}: output exists; pass --overwrite to replace it")
    if not isinstance(segmenter, Segmenter):
        segmenter = segmenter()
    out.mkdir(parents=True, exist_ok=True)
    opts = dict(scale=scale, threshold=threshold, tta=tta, field_angle=field_angle)
    rows: list[dict[str, Any]] = []
    bar = tqdm(share, desc="segment", unit="img", disable=not progress or rank != 0)
    # A three-stage pipeline: the next image is decoded and the previous one's files are
    # encoded on two threads while the network runs (benchmarks/bench_segment.py).
    pending: deque[tuple[dict[str, Any], Source, Future[None], SegmentationResult, float]]
    pending = deque()

    def finish_oldest() -> None:
        row, src, fut, res, t0 = pending.popleft()
        try:
            fut.result()
            row.update(_result_fields(res, time.perf_counter() - t0))
        except Exception as exc:  # a failed write fails that image, not the run
            _fail(row, src, exc)

    with (
        _executor(pipeline, "saunet-read") as reader,
        _executor(pipeline, "saunet-write") as writer,
    ):
        try:
            loads: list[Future[tuple[np.ndarray, np.ndarray | None]] | None] = []
            if share:
                loads.append(reader.submit(_load, share[0], fov_paths.get(share[0].name)))
            for i, src in enumerate(bar):
                if i + 1 < len(share):
                    nxt = share[i + 1]
                    loads.append(reader.submit(_load, nxt, fov_paths.get(nxt.name)))
                row: dict[str, Any] = {"name": src.name, "input": src.input}
                rows.append(row)
                t0 = time.perf_counter()
                try:
                    load, loads[i] = loads[i], None  # drop the reference: memory
                    assert load is not None
                    image, fov_mask = load.result()
                    res = segmenter.segment(image, fov=fov_mask, **opts)
                    fut = writer.submit(_write_outputs, out, src.name, image, res, spec)
                    pending.append((row, src, fut, res, t0))
                    del image
                except Exception as exc:  # one bad input must not stop an archive run
                    _fail(row, src, exc)
                while pending and (len(pending) > MAX_PENDING_WRITES or pending[0][2].done()):
                    finish_oldest()
            while pending:
                finish_oldest()
        finally:
            for fut in loads:
                if fut is not None:
                    fut.cancel()
            for row in rows:  # interrupted: these outputs may be missing
                row.setdefault("status", "interrupted")
            _write_summary(summary, rows)
    log.info("rank %d/%d: %d images, %d failed, summary %s", rank, world, len(rows),
             sum(r["status"] != "ok" for r in rows), summary)  # fmt: skip
    return SegmentReport(rows, summary, planned)
