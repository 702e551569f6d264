"""Segment many files: output planning, per-image outputs, summary CSV, sharding, resume.

For every input image ``<stem>.<ext>`` up to three files are written into the output folder
(:class:`saunet.inference.encode.OutputSpec`; formats and sizes in docs/segment.md):

* ``<stem>_prob.png``: vessel probability, lossless 16-bit (or ``.tif``/``.npy`` float32),
  zero outside the FOV;
* ``<stem>_mask.png``: binary mask (0/255), ``prob >= threshold`` inside the FOV;
* ``<stem>_overlay.jpg``: the photograph with vessel pixels tinted green, outside the FOV
  dimmed (or ``.png``);

and one summary CSV (:mod:`saunet.inference.summary`: one row per input, failed ones too;
``seconds`` is the time from the start of an image's prediction until its files are written),
rewritten atomically after every image. Images go through a pipeline: while the network runs
on one, the next is decoded on a reader thread and the previous one's files are encoded on a
writer thread. Every file is written atomically (temporary file + rename), and an image whose
files cannot all be written loses the ones already written: an image has all its files or
none.

Before any work the folder is claimed (:class:`saunet.utils.lock.FolderLock`: created,
writable, no other live writer) and all planned outputs are checked: if one exists and
neither ``overwrite`` nor ``resume`` is given nothing is done (:class:`UserError` naming the
first one). With ``resume`` an image recorded ``ok`` in the existing summary, with all its
files present, is skipped and its row kept; the others are segmented again, replacing what a
killed run left of them. An input that cannot be read or segmented is logged by name,
recorded with ``status = "failed: ..."`` and skipped; the caller turns that into exit code 1.
A full disk (or a read-only or over-quota one) stops the run with a :class:`UserError` after
the summary is brought up to date as far as space allows.

Sharding (``torchrun``): with ``WORLD_SIZE = W > 1`` rank ``R`` segments ``inputs[R::W]`` of
the sorted input list and writes ``summary-rank{R}-of-{W}.csv``; a single process writes
``summary.csv``. No process group is needed, the ranks never talk to each other; the union of
the per-image outputs equals a single-process run, and the summary parts concatenated (minus
their headers) hold the rows of ``summary.csv``. Each rank checks only its own outputs and
takes its own lock (``.saunet-rank{R}-of-{W}.lock``), so ranks share the folder and a second
run of the same rank is refused.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from saunet.data.fov import estimate_fov
from saunet.data.io import read_mask, write_png
from saunet.errors import UserError
from saunet.inference.encode import OutputSpec, write_overlay, write_prob_map
from saunet.inference.inputs import Source, match_fov_masks
from saunet.inference.overlay import overlay
from saunet.inference.router import WeightsRouter
from saunet.inference.segmenter import SegmentationResult, Segmenter
from saunet.inference.summary import finished_rows, read_summary, write_summary
from saunet.utils.files import remove_stale_temps
from saunet.utils.lock import LOCK_NAME, FolderLock

__all__ = [
    "SegmentReport",
    "summary_name",
    "planned_outputs",
    "dist_from_env",
    "segment_files",
]

log = logging.getLogger(__name__)


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


#: Write errors that no later image can escape: the run stops instead of failing each one.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def lock_name(rank: int = 0, world: int = 1) -> str:
    """The lock file of a rank: ranks of one torchrun share the folder, each its own files."""
    return LOCK_NAME if world <= 1 else f".saunet-rank{rank}-of-{world}.lock"


#: Images whose outputs may still be being written while the next one is predicted. One
#: keeps memory near a single image's (a 3504x2336 photograph and its maps are ~300 MB).
MAX_PENDING_WRITES = 1


def _load(src: Source, fov_path: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Image, FOV mask and where the mask came from; on the reader thread, so that the FOV
    estimate of the next image overlaps the network's work on this one."""
    image = src.load()
    if fov_path is not None:
        return image, read_mask(fov_path), "given"
    return image, estimate_fov(image), "estimated"


def _write_outputs(
    out_dir: Path, name: str, image: np.ndarray, res: SegmentationResult, spec: OutputSpec
) -> None:
    """The files of one image, all or none (runs on the writer thread; zlib and JPEG encoding
    free the GIL). When one cannot be written those already written are removed, so that a
    complete-looking subset never passes for the image's outputs."""
    written: list[Path] = []
    try:
        for kind, path in spec.paths(out_dir, name).items():
            if kind == "prob":
                prob = np.where(res.fov, res.prob, 0.0).astype(np.float32)
                write_prob_map(path, prob, spec.prob_format)
            elif kind == "mask":
                write_png(path, res.mask)
            else:
                write_overlay(path, overlay(image, res.mask, fov=res.fov), spec.overlay_format)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _result_fields(res: SegmentationResult, seconds: float) -> dict[str, Any]:
    h, w = res.prob.shape
    return {
        "weights": res.weights, "width": w, "height": h, "scale": f"{res.scale:.4g}", "threshold": f"{res.threshold:.4g}",
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
    segmenter: Segmenter | WeightsRouter | Callable[[], Segmenter | WeightsRouter],
    sources: Sequence[Source],
    out_dir: str | os.PathLike,
    *,
    fov: str | os.PathLike | None = None,
    scale: str | float | None = "auto",
    threshold: float | None = None,
    tta: bool | None = None,
    field_angle: float | None = None,
    overwrite: bool = False,
    resume: bool = False,
    outputs: OutputSpec | None = None,
    rank: int | None = None,
    world: int | None = None,
    progress: bool = True,
    pipeline: bool = True,
) -> SegmentReport:
    """Segment ``sources`` (this rank's share) into ``out_dir``; see the module docstring.

    Args:
        segmenter: the weights and backend (:class:`saunet.inference.segmenter.Segmenter`, or a
            :class:`saunet.inference.router.WeightsRouter` choosing them per image), or a
            function making it, called after the output check (loading can be slow).
        sources: all inputs (:func:`expand_inputs`, :func:`demo_source`), the same on every rank.
        out_dir: output folder (created).
        fov: FOV mask file (one input) or folder of masks (:func:`match_fov_masks`).
        scale, threshold, tta, field_angle: passed to :meth:`Segmenter.segment`.
        overwrite: replace existing outputs; otherwise any existing one is a UserError.
        resume: keep the images the existing summary records as finished (same options
            assumed), segment the rest; excludes ``overwrite``.
        outputs: which files, in which formats (default: all three, 16-bit PNG map, JPEG
            overlay).
        rank, world: shard; read from ``RANK``/``WORLD_SIZE`` when None.
        progress: show a tqdm bar (rank 0 only).
        pipeline: decode and write on background threads; False does every step on the
            calling thread, one image after the other (same outputs; for benchmarks).

    Raises:
        UserError: existing outputs without ``overwrite`` or ``resume``, a folder that cannot
            be written or is in use by another live saunet process, a bad ``fov`` argument,
            or a full disk (raised after the summary is brought up to date).
    """
    if rank is None or world is None:
        rank, world = dist_from_env()
    if not sources:
        raise UserError("no input images")
    if resume and overwrite:
        raise UserError("--resume keeps finished images and --overwrite replaces them: pick one")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    fov_paths = match_fov_masks(sources, fov)
    share = list(sources)[rank::world]
    summary = out / summary_name(rank, world)
    spec = outputs or OutputSpec()
    planned = planned_outputs(share, out, spec)
    made = not out.exists()
    lock = FolderLock(out, "saunet segment", lock_name(rank, world)).acquire()
    try:
        done = _check_outputs(share, planned, summary, spec, overwrite=overwrite, resume=resume)
        for p in remove_stale_temps(out):
            log.info("removed %s, left by a run that was killed", p)
        if not hasattr(segmenter, "segment"):  # a factory: build only once the folder is ours
            segmenter = segmenter()
        opts = dict(scale=scale, threshold=threshold, tta=tta, field_angle=field_angle)
        rows = _run(segmenter, share, done, out, summary, spec, fov_paths, opts,
                    progress=progress and rank == 0, pipeline=pipeline)  # fmt: skip
    finally:
        lock.release()
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing written: leave no trace of a run that never started
    log.info("rank %d/%d: %d images, %d failed, summary %s", rank, world, len(rows),
             sum(r["status"] != "ok" for r in rows), summary)  # fmt: skip
    return SegmentReport(rows, summary, planned)


def _check_outputs(
    share: Sequence[Source],
    planned: Sequence[Path],
    summary: Path,
    spec: OutputSpec,
    *,
    overwrite: bool,
    resume: bool,
) -> dict[str, dict[str, Any]]:
    """The summary rows of the images to skip (``resume``), by name; raise on existing
    outputs when neither ``overwrite`` nor ``resume`` allows them."""
    if resume:
        rows = finished_rows(read_summary(summary), summary.parent, spec)
        inputs = {s.name: s.input for s in share}
        done = {n: dict(r) for n, r in rows.items() if inputs.get(n) == r["input"]}
        log.info("%s: %d of %d images already finished", summary, len(done), len(share))
        return done
    if not overwrite:
        existing = next((p for p in [*planned, summary] if p.exists()), None)
        if existing is not None:
            raise UserError(
                f"{existing}: output exists; pass --resume to continue a stopped run or "
                "--overwrite to replace it"
            )
    return {}


#: An image whose files are being written: its row, source, write, result, start time.
_Pending = tuple[dict[str, Any], Source, "Future[None]", SegmentationResult, float]


def _run(
    segmenter: Segmenter | WeightsRouter,
    share: Sequence[Source],
    done: dict[str, dict[str, Any]],
    out: Path,
    summary: Path,
    spec: OutputSpec,
    fov_paths: dict[str, Path],
    opts: dict[str, Any],
    *,
    progress: bool,
    pipeline: bool,
) -> list[dict[str, Any]]:
    """Segment the sources not in ``done``; the summary rows of all of ``share``, in order."""
    todo = [s for s in share if s.name not in done]
    rows: list[dict[str, Any]] = []
    bar = tqdm(share, desc="segment", unit="img", disable=not progress)
    # A three-stage pipeline: the next image is decoded and the previous one's files are
    # encoded on two threads while the network runs (benchmarks/bench_segment.py).
    pending: deque[_Pending] = deque()
    loads: dict[str, Future[tuple[np.ndarray, np.ndarray, str]]] = {}

    def record() -> None:
        """Rewrite the summary with every finished image (kill-safe: atomic)."""
        write_summary(summary, [r for r in rows if "status" in r])

    def finish_oldest() -> None:
        # Popped only once recorded: an interrupt in between leaves it for _settle.
        try:
            err = _collect(pending[0])
        finally:
            pending.popleft()
        if err is not None and _disk_error(err):
            raise err

    with (
        _executor(pipeline, "saunet-read") as reader,
        _executor(pipeline, "saunet-write") as writer,
    ):

        def prefetch(k: int) -> None:
            if k < len(todo):
                loads[todo[k].name] = reader.submit(_load, todo[k], fov_paths.get(todo[k].name))

        try:
            prefetch(0)
            k = 0
            for src in bar:
                if src.name in done:
                    rows.append(done[src.name])
                    continue
                k += 1
                prefetch(k)
                row: dict[str, Any] = {"name": src.name, "input": src.input}
                rows.append(row)
                t0 = time.perf_counter()
                try:
                    image, fov_mask, source = loads.pop(src.name).result()  # popped: memory
                    res = segmenter.segment(image, fov=fov_mask, fov_source=source, **opts)
                    fut = writer.submit(_write_outputs, out, src.name, image, res, spec)
                    pending.append((row, src, fut, res, t0))
                    del image
                except Exception as exc:  # one bad input must not stop an archive run
                    _fail(row, src, exc)
                    record()
                while pending and (len(pending) > MAX_PENDING_WRITES or pending[0][2].done()):
                    finish_oldest()
                    record()
            while pending:
                finish_oldest()
                record()
            record()  # also when nothing was left to do
        except BaseException as exc:
            for fut in loads.values():
                fut.cancel()
            _settle(pending, rows, summary)
            if _disk_error(exc):
                assert isinstance(exc, OSError)
                n_ok = sum(r.get("status") == "ok" for r in rows)
                raise UserError(
                    f"{out}: {exc.strerror}; stopped after {n_ok} of {len(share)} images, "
                    f"each complete and listed in {summary.name} as far as space allowed; "
                    "free space and rerun with --resume"
                ) from exc
            raise
    return rows


def _collect(entry: _Pending) -> Exception | None:
    """Wait for an image's files and complete its row: ``ok``, or ``failed`` with the error
    (returned; a failed write fails that image, not the run)."""
    row, src, fut, res, t0 = entry
    try:
        fut.result()
        row.update(_result_fields(res, time.perf_counter() - t0))
    except Exception as exc:
        _fail(row, src, exc)
        return exc
    return None


def _settle(
    pending: deque[_Pending],
    rows: list[dict[str, Any]],
    summary: Path,
) -> None:
    """After an interrupt or a full disk: wait for the writes already started (an image whose
    files are all written is ``ok``), mark the rest ``interrupted`` and update the summary,
    as far as the disk allows."""
    while pending:
        _collect(pending.popleft())
    for row in rows:
        row.setdefault("status", "interrupted")
    try:
        write_summary(summary, rows)
    except OSError as err:
        log.warning("%s: not updated (%s)", summary, err.strerror or err)
