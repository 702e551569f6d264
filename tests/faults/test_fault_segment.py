"""Faults of ``saunet segment`` (issue 26, faults 2, 3 and 4): two writers into one folder,
an unwritable folder, a full disk, and ``kill -9``/SIGTERM/SIGINT mid-batch followed by
``--resume``. Each test asserts what survives: whole images only, one summary row per
finished image, no temporary files, and after the resume the files of an uninterrupted run."""

from __future__ import annotations

import csv
import errno
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from faultkit import saunet, temp_files
from PIL import Image

from saunet.cli import main
from saunet.utils.lock import LOCK_NAME

NAMES = ("a", "b", "c", "d")
SUFFIXES = ("_prob.png", "_mask.png", "_overlay.jpg")


@pytest.fixture
def ckpt(tmp_path, tiny_checkpoint) -> Path:
    scale = {"fov_diameter_px": 40.0, "field_angle_deg": 45.0, "calibre_factor": 1.0}
    return tiny_checkpoint(tmp_path / "tiny.safetensors", threshold=0.45, scale=scale)


def write_photos(folder: Path, names: tuple[str, ...], seed: int = 0) -> Path:
    """Small textured discs on black, ``<name>.png``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :52]
    disc = (yy - 20) ** 2 + (xx - 26) ** 2 < 18**2
    for n in names:
        img = rng.uniform(0.2, 0.9, (40, 52, 3)) * disc[..., None]
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"{n}.png")
    return folder


@pytest.fixture
def photos(tmp_path) -> Path:
    return write_photos(tmp_path / "in", NAMES)


def argv(photos: Path, ckpt: Path, out: Path, *extra: str) -> list[str]:
    return ["segment", str(photos), "--weights", str(ckpt), "--out", str(out),
            "--device", "cpu", "--compile", "off", *extra]  # fmt: skip


def out_of(args: list[str]) -> Path:
    return Path(args[args.index("--out") + 1])


def summary_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def image_files(out: Path) -> dict[str, bytes]:
    """The per-image outputs of a segment run, by name."""
    return {p.name: p.read_bytes() for p in sorted(out.glob("*_*.*"))}


def whole_images(out: Path) -> list[str]:
    """Names with all three files; asserts no image has only some of them."""
    have = {n: [(out / f"{n}{s}").is_file() for s in SUFFIXES] for n in NAMES}
    assert all(all(h) or not any(h) for h in have.values()), have
    return [n for n, h in have.items() if all(h)]


def error_line(err: str) -> str:
    """The one error line on stderr (beside the progress bar and the skipped-image warnings)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("saunet segment: error:")]
    assert len(lines) == 1, err
    return lines[0]


def wait_for(path: Path, proc, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None and not path.exists():
        time.sleep(0.05)
    assert proc.poll() is None and path.exists(), proc.communicate()[1][-2000:]


def test_a_second_run_into_a_folder_in_use_is_refused_by_name(photos, ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    other = write_photos(tmp_path / "other", ("e", "f"), seed=1)
    proc = saunet(*argv(photos, ckpt, out), fault="after-rename:a_mask.png:sleep:120", wait=False)
    try:
        wait_for(out / "a_mask.png", proc)
        assert main(argv(other, ckpt, out)) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"PID {proc.pid} (saunet segment)" in err, err
        assert not list(out.glob("e_*")) and not (out / "summary.csv").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The killed holder's lock is stale: the next writer takes it over.
    assert main(argv(other, ckpt, out)) == 0
    assert [r["name"] for r in summary_rows(out)] == ["e", "f"]
    assert not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("out", ["/proc/saunet-out", "/proc"])
def test_an_unwritable_folder_is_one_line_before_any_work(photos, ckpt, out, monkeypatch, capsys):
    from saunet.inference.segmenter import Segmenter

    def no_work(*a, **k):
        raise AssertionError("weights loaded before the output folder was checked")

    monkeypatch.setattr(Segmenter, "from_weights", no_work)
    assert main(argv(photos, ckpt, Path(out))) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and out in err and "writable" in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line_before_any_work(photos, ckpt, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(argv(photos, ckpt, out)) == 2
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "writable" in err and list(out.iterdir()) == []


def test_a_full_disk_stops_the_run_leaving_whole_images_and_their_rows(
    photos, ckpt, tmp_path, monkeypatch, capsys, one_thread
):
    out = tmp_path / "out"
    real = os.replace
    full = []

    # The disk fills while b's mask is written and stays full for images; the small summary
    # still fits (else whether a's row lands would race with b's writer thread).
    def replace(src, dst):
        if (full and Path(dst).name != "summary.csv") or Path(dst).name == "b_mask.png":
            full.append(dst)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert main(argv(photos, ckpt, out)) != 0
    monkeypatch.setattr(os, "replace", real)
    err = error_line(capsys.readouterr().err)
    assert "No space left on device" in err and "after 1 of 4 images" in err and "--resume" in err
    assert whole_images(out) == ["a"]  # b's probability map, already written, is removed
    rows = [(r["name"], r["status"]) for r in summary_rows(out)]
    assert rows[0] == ("a", "ok") and [n for n, _ in rows] == list(NAMES[: len(rows)])
    assert rows[1][1].startswith("failed: ") and "No space left" in rows[1][1]
    assert all(st == "interrupted" or "No space left" in st for _, st in rows[2:])
    assert temp_files(out) == [] and not (out / LOCK_NAME).exists()
    # Space freed: --resume completes the batch without redoing a.
    kept = (out / "a_prob.png").stat().st_mtime_ns
    assert main(argv(photos, ckpt, out, "--resume")) == 0
    assert whole_images(out) == list(NAMES)
    assert [r["name"] for r in summary_rows(out)] == list(NAMES)
    assert (out / "a_prob.png").stat().st_mtime_ns == kept


def test_a_full_disk_in_lanes_leaves_whole_images_and_a_row_for_each(
    photos, ckpt, tmp_path, monkeypatch, capsys
):
    """Two lanes (two torch threads): which images finish before the disk fills depends on
    the race between them, so this asserts what must hold whatever the order."""
    out = tmp_path / "out"
    real = os.replace
    full = []

    def replace(src, dst):
        if full or Path(dst).name == "b_mask.png":
            full.append(dst)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(argv(photos, ckpt, out)) != 0
    finally:
        torch.set_num_threads(n)
        monkeypatch.setattr(os, "replace", real)
    err = error_line(capsys.readouterr().err)
    ok = whole_images(out)  # c and d may finish in one lane while b still runs in the other
    assert "No space left on device" in err and f"after {len(ok)} of 4 images" in err
    # The summary holds the rows recorded before the disk filled: a prefix of the images,
    # each whole (none if a had not been recorded).
    rows = summary_rows(out) if (out / "summary.csv").exists() else []
    names = [r["name"] for r in rows]
    assert "b" not in ok and names == list(NAMES[: len(names)]) and set(names) <= set(ok)
    assert temp_files(out) == [] and not (out / LOCK_NAME).exists()
    assert main(argv(photos, ckpt, out, "--resume")) == 0
    assert whole_images(out) == list(NAMES)


def test_sigint_records_an_image_whose_files_are_written_as_ok(
    photos, ckpt, tmp_path, monkeypatch, one_thread
):
    from saunet.inference.inputs import expand_inputs
    from saunet.inference.segment_files import segment_files
    from saunet.inference.segmenter import Segmenter

    seg = Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32")
    real, calls = seg.segment, []

    def segment(image, **kw):  # Ctrl-C while c is predicted, b's files being written
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(image, **kw)

    seg.segment = segment
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        segment_files(lambda: seg, expand_inputs([str(photos)]), out, progress=False,
                      rank=0, world=1)  # fmt: skip
    assert whole_images(out) == ["a", "b"]
    rows = [(r["name"], r["status"]) for r in summary_rows(out)]
    assert rows == [("a", "ok"), ("b", "ok"), ("c", "interrupted")]
    assert temp_files(out) == [] and not (out / LOCK_NAME).exists()


def test_ctrl_c_of_the_cli_finishes_the_images_in_hand_as_ok(photos, ckpt, tmp_path):
    """A real SIGINT while c's files are being written (the writer paused after c's mask):
    the command waits for c, records it ``ok``, marks what had not started ``interrupted``
    and exits 130."""
    out = tmp_path / "out"
    proc = saunet(*argv(photos, ckpt, out), fault="after-rename:c_mask.png:sleep:1.5", wait=False)
    try:
        wait_for(out / "c_mask.png", proc)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1].decode()
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err.splitlines()[-1], err[-2000:]
    status = {r["name"]: r["status"] for r in summary_rows(out)}
    assert status["a"] == status["b"] == status["c"] == "ok", status
    assert set(status.values()) <= {"ok", "interrupted"}
    assert sorted(whole_images(out)) == sorted(n for n, st in status.items() if st == "ok")
    assert temp_files(out) == [] and not (out / LOCK_NAME).exists()


def _kill_9(args: list[str]) -> None:
    """Image c's overlay complete in its temp file, not renamed: c has two of three files
    (and on a CPU with two lanes, d may have a file being written too)."""
    proc = saunet(*args, fault="before-rename:c_overlay.jpg:abort")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    temps = [p.name for p in temp_files(out_of(args))]
    assert 1 <= len(temps) <= 2 and any(t.startswith(".c_overlay.jpg.") for t in temps), temps


def _kill_9_before_the_third_row(args: list[str]) -> None:
    """c's files all written, its row not yet: c is recomputed, to the same bytes."""
    proc = saunet(*args, fault="before-write:summary.csv#3:abort")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def _sigterm(args: list[str]) -> None:
    """SIGTERM (no handler: the process ends at once) after c's mask."""
    proc = saunet(*args, fault="after-rename:c_mask.png:sleep:120", wait=False)
    try:
        wait_for(out_of(args) / "c_mask.png", proc)
    finally:
        proc.terminate()
        proc.wait()
    assert proc.returncode == -signal.SIGTERM


@pytest.mark.parametrize(
    "stops",
    [
        (_kill_9, _sigterm),
        pytest.param((_kill_9_before_the_third_row,), marks=pytest.mark.slow),
    ],
    ids=["kill-9-and-sigterm", "kill-9-before-a-row"],
)
def test_a_killed_batch_resumes_to_the_files_of_an_uninterrupted_run(
    photos, ckpt, tmp_path, stops, capsys
):
    base = tmp_path / "base"
    proc = saunet(*argv(photos, ckpt, base))
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = image_files(base)
    assert len(expected) == 3 * len(NAMES)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    for stop in stops:
        out = tmp_path / stop.__name__
        args = argv(photos, ckpt, out)
        stop(args)
        # Written after every image, never torn; missing only if the kill came before the
        # first image was recorded (two lanes can reach c's files before a's row lands).
        rows = summary_rows(out) if (out / "summary.csv").exists() else []
        done = [r["name"] for r in rows]
        assert done == list(NAMES[: len(done)]), stop.__name__
        assert all(r["status"] == "ok" for r in rows)
        assert all((out / f"{n}{x}").is_file() for n in done for x in SUFFIXES)
        kept = {n: (out / f"{n}_mask.png").stat().st_mtime_ns for n in done}
        # A plain rerun refuses and names --resume; --resume continues the batch.
        capsys.readouterr()
        assert main(args) == 2
        assert "--resume" in error_line(capsys.readouterr().err)
        proc = saunet(*args, "--resume")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert image_files(out) == expected, stop.__name__
        assert drop(summary_rows(out)) == drop(summary_rows(base))
        assert {n: (out / f"{n}_mask.png").stat().st_mtime_ns for n in done} == kept
        assert temp_files(out) == [] and not (out / LOCK_NAME).exists()
