"""How :func:`saunet.inference.segment_files.segment_files` moves images through the steps.

Every image goes load (decode + FOV) -> segment -> write its files, and ends as one summary
row. Two schedules, the same outputs:

* **lanes** (:func:`run_lanes`, the CPU default, :mod:`saunet.inference.lanes`): ``lanes``
  images at once, each taken through every step on its own thread;
* **pipeline** (:func:`run_pipeline`): one image in the network at a time, the next one
  decoded on a reader thread and the previous one's files encoded on a writer thread
  (``pipeline=False``: all on the calling thread, for benchmarks).

Rows are completed in input order, the summary is rewritten after each, and an interrupt or
a full disk waits for the images already in hand before the summary is brought up to date
(:class:`_Ledger`).
"""

from __future__ import annotations

import errno
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from saunet.data.fov import estimate_fov
from saunet.data.io import read_mask
from saunet.errors import UserError
from saunet.inference.encode import OutputSpec, write_mask, write_overlay, write_prob_map
from saunet.inference.inputs import Source
from saunet.inference.lanes import PixelBudget, torch_threads
from saunet.inference.overlay import overlay
from saunet.inference.router import WeightsRouter
from saunet.inference.segmenter import SegmentationResult, Segmenter
from saunet.inference.summary import write_summary

__all__ = ["DISK_ERRNOS", "run_lanes", "run_pipeline"]

log = logging.getLogger(__name__)

#: Write errors that no later image can escape: the run stops instead of failing each one.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

#: Images whose outputs may still be being written while the next one is predicted
#: (pipeline). One keeps memory near a single image's (a 3504x2336 photograph and its maps
#: are ~300 MB).
MAX_PENDING_WRITES = 1

#: What the work on one image hands back: the fields of its summary row (a few strings, so
#: that finished images waiting for their turn in the summary hold no maps).
RowFields = dict[str, Any]
AnySegmenter = Segmenter | WeightsRouter


def _disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


# --- the steps of one image -------------------------------------------------------------


def _load(src: Source, fov_path: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Image, FOV mask and where the mask came from."""
    image = src.load()
    if fov_path is not None:
        return image, read_mask(fov_path), "given"
    return image, estimate_fov(image), "estimated"


def _write_outputs(
    out_dir: Path, name: str, image: np.ndarray, res: SegmentationResult, spec: OutputSpec
) -> None:
    """The files of one image, all or none (zlib and JPEG encoding free the GIL). When one
    cannot be written those already written are removed, so that a complete-looking subset
    never passes for the image's outputs."""
    written: list[Path] = []
    try:
        for kind, path in spec.paths(out_dir, name).items():
            if kind == "prob":
                prob = np.where(res.fov, res.prob, 0.0).astype(np.float32)
                write_prob_map(path, prob, spec.prob_format)
            elif kind == "mask":
                write_mask(path, res.mask)
            else:
                write_overlay(path, overlay(image, res.mask, fov=res.fov), spec.overlay_format)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _write_timed(
    t0: float, out_dir: Path, name: str, image: np.ndarray, res: SegmentationResult,
    spec: OutputSpec,
) -> RowFields:  # fmt: skip
    """Write the files, then the row with the seconds since ``t0`` (the start of the
    prediction, after decoding and the FOV estimate, in both schedules)."""
    _write_outputs(out_dir, name, image, res, spec)
    return _result_fields(res, time.perf_counter() - t0)


def _lane_step(
    segmenter: AnySegmenter, src: Source, fov_path: Path | None, out_dir: Path,
    spec: OutputSpec, opts: dict[str, Any], budget: PixelBudget,
) -> RowFields:  # fmt: skip
    """One image through every step, on a lane's thread."""
    image, fov_mask, source = _load(src, fov_path)
    with budget.hold(image.shape[0] * image.shape[1]):
        t0 = time.perf_counter()
        res = segmenter.segment(image, fov=fov_mask, fov_source=source, **opts)
        return _write_timed(t0, out_dir, src.name, image, res, spec)


# --- rows and the summary ---------------------------------------------------------------


def _result_fields(res: SegmentationResult, seconds: float) -> dict[str, Any]:
    h, w = res.prob.shape
    return {
        "weights": res.weights, "width": w, "height": h, "scale": f"{res.scale:.4g}", "threshold": f"{res.threshold:.4g}",
        "fov_source": res.fov_source, "vessel_fraction": f"{res.vessel_fraction:.5f}",
        "seconds": f"{seconds:.2f}", "status": "ok",
    }  # fmt: skip


def _fail(row: dict[str, Any], src: Source, exc: BaseException) -> None:
    msg = str(exc).removeprefix(f"{src.input}: ")
    log.warning("skipped %s: %s", src.input, msg)
    log.debug("traceback of %s", src.input, exc_info=exc)
    row["status"] = f"failed: {msg}"


class _Ledger:
    """The summary rows in input order and the images still in hand (oldest first)."""

    def __init__(self, summary: Path, n_share: int) -> None:
        self.summary, self.n_share = summary, n_share
        self.rows: list[dict[str, Any]] = []
        self.pending: deque[tuple[dict[str, Any], Source, Future[RowFields]]] = deque()

    def start(self, src: Source) -> dict[str, Any]:
        row: dict[str, Any] = {"name": src.name, "input": src.input}
        self.rows.append(row)
        return row

    def record(self) -> None:
        """Rewrite the summary with every finished image (kill-safe: atomic)."""
        write_summary(self.summary, [r for r in self.rows if "status" in r])

    def fail(self, row: dict[str, Any], src: Source, exc: BaseException) -> None:
        _fail(row, src, exc)
        self.record()

    def finish(self, keep: int) -> None:
        """Complete the oldest images while more than ``keep`` are in hand or the oldest is
        done; ``keep=0`` waits for all."""
        while self.pending and (len(self.pending) > keep or self.pending[0][2].done()):
            # Popped only once collected: an image whose wait is interrupted stays for
            # abort, which waits for it again (collecting twice gives the same row).
            err = _collect(self.pending[0])
            self.pending.popleft()
            if err is not None and _disk_error(err):
                raise err
            self.record()

    def abort(self, exc: BaseException, out: Path, *, cancel_queued: bool = False) -> None:
        """After an interrupt or a full disk: wait for the images in hand (one whose files
        are all written is ``ok``), mark the rest ``interrupted``, update the summary as far
        as the disk allows; a full disk becomes a :class:`UserError`. ``cancel_queued``
        drops the work not yet started (lanes: images not yet read; the pipeline's queued
        work is the writing of images already predicted, which is kept)."""
        for entry in list(self.pending):
            if cancel_queued and entry[2].cancel():
                self.pending.remove(entry)
        while self.pending:
            entry = self.pending[0]
            err = entry[2].exception()  # waits for the image; a second Ctrl-C ends the wait
            if err is None or isinstance(err, Exception):
                _collect(entry)  # else its own work was interrupted: it stays "interrupted"
            self.pending.popleft()
        for row in self.rows:
            row.setdefault("status", "interrupted")
        try:
            write_summary(self.summary, self.rows)
        except OSError as err:
            log.warning("%s: not updated (%s)", self.summary, err.strerror or err)
        if _disk_error(exc):
            assert isinstance(exc, OSError)
            n_ok = sum(r.get("status") == "ok" for r in self.rows)
            raise UserError(
                f"{out}: {exc.strerror}; stopped after {n_ok} of {self.n_share} images, "
                f"each complete and listed in {self.summary.name} as far as space allowed; "
                "free space and rerun with --resume"
            ) from exc


def _collect(entry: tuple[dict[str, Any], Source, Future[RowFields]]) -> Exception | None:
    """Wait for an image and complete its row: ``ok``, or ``failed`` with the error
    (returned; a failed image fails that image, not the run)."""
    row, src, fut = entry
    try:
        row.update(fut.result())
    except Exception as exc:
        _fail(row, src, exc)
        return exc
    return None


# --- the two schedules ------------------------------------------------------------------


def run_lanes(
    segmenter: AnySegmenter, share: Sequence[Source], done: dict[str, dict[str, Any]],
    out: Path, summary: Path, spec: OutputSpec, fov_paths: dict[str, Path],
    opts: dict[str, Any], *, progress: bool, lanes: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """``lanes`` images at once, each on its own thread with ``1 / lanes`` of the torch
    threads; the summary rows of all of ``share`` (those in ``done`` kept), in order."""
    import torch

    ledger = _Ledger(summary, len(share))
    budget = PixelBudget()
    with (
        torch_threads(torch.get_num_threads() // lanes),
        ThreadPoolExecutor(lanes, thread_name_prefix="saunet-lane") as pool,
    ):
        try:
            for src in tqdm(share, desc="segment", unit="img", disable=not progress):
                if src.name in done:
                    ledger.rows.append(done[src.name])
                    continue
                row = ledger.start(src)
                fut = pool.submit(_lane_step, segmenter, src, fov_paths.get(src.name), out,
                                  spec, opts, budget)  # fmt: skip
                ledger.pending.append((row, src, fut))
                # At most one image queued beyond the lanes, so a lane never waits for work;
                # finished images wait only for their turn in the summary, not for room.
                busy = [f for _, _, f in ledger.pending if not f.done()]
                if len(busy) > lanes:
                    wait(busy, return_when=FIRST_COMPLETED)
                ledger.finish(keep=len(ledger.pending))  # the finished ones, in order
            ledger.finish(keep=0)
            ledger.record()  # also when nothing was left to do
        except BaseException as exc:
            ledger.abort(exc, out, cancel_queued=True)
            raise
    return ledger.rows


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


def run_pipeline(
    segmenter: AnySegmenter, share: Sequence[Source], done: dict[str, dict[str, Any]],
    out: Path, summary: Path, spec: OutputSpec, fov_paths: dict[str, Path],
    opts: dict[str, Any], *, progress: bool, pipeline: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """One image in the network at a time, the next decoded and the previous one written on
    helper threads (``pipeline``); the summary rows of all of ``share``, in order."""
    todo = [s for s in share if s.name not in done]
    ledger = _Ledger(summary, len(share))
    loads: dict[str, Future[tuple[np.ndarray, np.ndarray, str]]] = {}
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
            for src in tqdm(share, desc="segment", unit="img", disable=not progress):
                if src.name in done:
                    ledger.rows.append(done[src.name])
                    continue
                k += 1
                prefetch(k)
                row = ledger.start(src)
                try:
                    image, fov_mask, source = loads.pop(src.name).result()  # popped: memory
                    t0 = time.perf_counter()
                    res = segmenter.segment(image, fov=fov_mask, fov_source=source, **opts)
                    fut = writer.submit(_write_timed, t0, out, src.name, image, res, spec)
                    ledger.pending.append((row, src, fut))
                    del image
                except Exception as exc:  # one bad input must not stop an archive run
                    ledger.fail(row, src, exc)
                ledger.finish(keep=MAX_PENDING_WRITES)
            ledger.finish(keep=0)
            ledger.record()  # also when nothing was left to do
        except BaseException as exc:
            for fut in loads.values():
                fut.cancel()
            ledger.abort(exc, out)
            raise
    return ledger.rows
