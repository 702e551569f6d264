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
rewritten atomically after every image. On a CPU, images go through lanes
(:mod:`saunet.inference.lanes`): two images at once, each taken through every step on its
own thread with half the torch threads. Otherwise (a GPU, onnxruntime, one image,
``lanes=1``) they go through a pipeline: while the network runs on one, the next is decoded
on a reader thread and the previous one's files are encoded on a writer thread
(:mod:`saunet.inference.scheduling`). Every file is written atomically (temporary file +
rename), and an image whose files cannot all be written loses the ones already written: an
image has all its files or none.

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

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saunet.errors import UserError
from saunet.inference.encode import OutputSpec
from saunet.inference.inputs import Source, match_fov_masks
from saunet.inference.router import WeightsRouter
from saunet.inference.scheduling import run_lanes, run_pipeline
from saunet.inference.segmenter import Segmenter
from saunet.inference.summary import finished_rows, read_summary
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


def lock_name(rank: int = 0, world: int = 1) -> str:
    """The lock file of a rank: ranks of one torchrun share the folder, each its own files."""
    return LOCK_NAME if world <= 1 else f".saunet-rank{rank}-of-{world}.lock"


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
    lanes: int | Callable[[], int] = 1,
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
        lanes: images in flight at once, each on its own thread with ``1 / lanes`` of the
            torch threads (:func:`saunet.inference.lanes.default_lanes` picks it for the
            CLI; a function is called after the segmenter is built); 1 runs the pipeline.
            Same outputs either way.

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
        if callable(lanes):
            lanes = lanes()
        todo = sum(s.name not in done for s in share)
        if lanes > 1 and todo > 1:
            rows = run_lanes(segmenter, share, done, out, summary, spec, fov_paths, opts,
                             progress=progress and rank == 0, lanes=lanes)  # fmt: skip
        else:
            rows = run_pipeline(segmenter, share, done, out, summary, spec, fov_paths, opts,
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
