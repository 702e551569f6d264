"""Both schedules of ``segment_files`` (lanes and the pipeline): the same files and rows, in
input order, with broken inputs and failed writes recorded per image."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saunet.inference.inputs import expand_inputs
from saunet.inference.segment_files import segment_files
from saunet.inference.segmenter import Segmenter
from saunet.utils.files import atomic_write

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def seg(tmp_path, tiny_checkpoint) -> Segmenter:
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    return Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32")


def _write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:60, :76]
    disc = (yy - 30) ** 2 + (xx - 38) ** 2 < 27**2
    for i, n in enumerate(names):
        rng = np.random.default_rng(i)
        img = (rng.uniform(60, 220, (60, 76, 3)) * disc[..., None]).astype(np.uint8)
        Image.fromarray(img).save(folder / n)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def test_lanes_write_the_files_and_rows_of_the_pipeline(tmp_path, seg):
    _write_images(tmp_path / "in", [f"{c}.png" for c in "abcdefg"])
    srcs = expand_inputs([str(tmp_path / "in")])
    threads: set[str] = set()
    calls: list[str] = []
    real = seg.segment
    meet = threading.Barrier(2, timeout=30)  # two lanes: the first two images meet here

    def segment(image, **kw):
        name = threading.current_thread().name
        threads.add(name)
        calls.append(name)
        if name.startswith("saunet-lane") and len(calls) <= 2:
            try:
                meet.wait()
            except threading.BrokenBarrierError:
                pass
        return real(image, **kw)

    seg.segment = segment
    segment_files(seg, srcs, tmp_path / "one", rank=0, world=1, progress=False, lanes=1)
    assert threads == {threading.current_thread().name}
    threads.clear()
    calls.clear()
    segment_files(seg, srcs, tmp_path / "two", rank=0, world=1, progress=False, lanes=2)
    assert len(threads) == 2 and all(t.startswith("saunet-lane") for t in threads)
    assert not meet.broken  # the two lanes did run at once
    files = lambda d: {p.name: p.read_bytes() for p in sorted(d.glob("*_*.*"))}  # noqa: E731
    assert len(files(tmp_path / "one")) == 21
    assert files(tmp_path / "two") == files(tmp_path / "one")
    assert _rows(tmp_path / "two" / "summary.csv") == _rows(tmp_path / "one" / "summary.csv")


@pytest.mark.parametrize("lanes", [1, 2])
def test_order_kept_and_broken_inputs_and_failed_writes_reported(tmp_path, seg, monkeypatch, lanes):
    import saunet.inference.scheduling as sched

    _write_images(tmp_path / "in", ["a.png", "c.png", "d.png"])
    (tmp_path / "in" / "b.png").write_bytes(b"not a png")
    real = sched.write_overlay

    def flaky(path, array, fmt):
        if Path(path).name != "c_overlay.jpg":
            return real(path, array, fmt)

        def half_then_fail(tmp):
            Path(tmp).write_bytes(b"\x89PNG half")
            raise OSError("disk full")

        atomic_write(path, half_then_fail)

    monkeypatch.setattr(sched, "write_overlay", flaky)
    srcs = expand_inputs([str(tmp_path / "in")])
    rep = segment_files(seg, srcs, tmp_path / "out", rank=0, world=1, progress=False,
                        lanes=lanes)  # fmt: skip
    rows = _rows(tmp_path / "out" / "summary.csv")
    assert [r["name"] for r in rows] == ["a", "b", "c", "d"]
    status = {r["name"]: r["status"] for r in rows}
    assert status["a"] == status["d"] == "ok"
    assert status["b"].startswith("failed:") and status["c"] == "failed: disk full"
    assert {r["input"] for r in rep.failed} == {
        str(tmp_path / "in" / n) for n in ("b.png", "c.png")
    }
    assert (tmp_path / "out" / "d_overlay.jpg").is_file()
    assert not (tmp_path / "out" / "c_overlay.jpg").exists()
    assert not (tmp_path / "out" / "c_mask.png").exists()  # all of an image's files or none
    assert not list((tmp_path / "out").glob(".*tmp*"))  # no half-written files left


def test_an_interrupt_in_a_lane_keeps_the_finished_images(tmp_path, seg):
    from saunet.data.io import read_image

    _write_images(tmp_path / "in", [f"{c}.png" for c in "abcdef"])
    d = read_image(tmp_path / "in" / "d.png")
    real = seg.segment

    def segment(image, **kw):  # Ctrl-C while d is predicted in its lane
        if np.array_equal(image, d):
            raise KeyboardInterrupt
        return real(image, **kw)

    seg.segment = segment
    with pytest.raises(KeyboardInterrupt):
        segment_files(seg, expand_inputs([str(tmp_path / "in")]), tmp_path / "out",
                      rank=0, world=1, progress=False, lanes=2)  # fmt: skip
    rows = _rows(tmp_path / "out" / "summary.csv")
    # In input order; the image interrupted is recorded so, an image the other lane finished
    # meanwhile is ok, and every row's status says whether its files are all there.
    assert [r["name"] for r in rows] == list("abcdef"[: len(rows)])
    status = {r["name"]: r["status"] for r in rows}
    assert status["a"] == status["b"] == status["c"] == "ok" and status["d"] == "interrupted"
    assert set(status.values()) == {"ok", "interrupted"}
    for name, st in status.items():
        have = [(tmp_path / "out" / f"{name}{x}").exists()
                for x in ("_prob.png", "_mask.png", "_overlay.jpg")]  # fmt: skip
        assert all(have) if st == "ok" else not any(have), (name, st, have)
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_each_lane_runs_with_its_share_of_the_threads(tmp_path, seg):
    _write_images(tmp_path / "in", [f"{c}.png" for c in "abcd"])
    counts: list[int] = []
    real = seg.segment

    def segment(image, **kw):
        counts.append(torch.get_num_threads())
        return real(image, **kw)

    seg.segment = segment
    torch.set_num_threads(2)  # restored by the one_thread fixture
    segment_files(seg, expand_inputs([str(tmp_path / "in")]), tmp_path / "out", rank=0,
                  world=1, progress=False, lanes=2)  # fmt: skip
    assert counts == [1, 1, 1, 1] and torch.get_num_threads() == 2


def test_a_slow_image_does_not_hold_up_the_other_lane(tmp_path, seg):
    """While a's lane is held, the other lane segments b, c and d: finished images wait for
    their turn in the summary, not for room."""
    _write_images(tmp_path / "in", [f"{c}.png" for c in "abcd"])
    from saunet.data.io import read_image

    a = read_image(tmp_path / "in" / "a.png")
    others_done, order = threading.Event(), []
    real = seg.segment

    def segment(image, **kw):
        if np.array_equal(image, a):
            assert others_done.wait(30), "the other lane stopped behind a"
        res = real(image, **kw)
        order.append("a" if np.array_equal(image, a) else "x")
        if order.count("x") == 3:
            others_done.set()
        return res

    seg.segment = segment
    segment_files(seg, expand_inputs([str(tmp_path / "in")]), tmp_path / "out", rank=0,
                  world=1, progress=False, lanes=2)  # fmt: skip
    assert order == ["x", "x", "x", "a"]
    assert [r["name"] for r in _rows(tmp_path / "out" / "summary.csv")] == list("abcd")
