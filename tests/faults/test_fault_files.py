"""The pieces under the fault suite: the ``SAUNET_FAULT`` hook of the atomic write, the
folder lock, stale temporary files and the image size limit (issue 26, faults 2 and 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from saunet.data.io import image_size, open_image
from saunet.errors import DataError, UserError
from saunet.utils.files import _parse_fault_rule, atomic_write, remove_stale_temps
from saunet.utils.lock import LOCK_NAME, FolderBusy, FolderLock


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (no torch) with extra environment ``env``."""
    full = {k: v for k, v in os.environ.items() if k != "SAUNET_FAULT"} | env
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


WRITE_TWICE = """
    from saunet.utils.files import atomic_write_text
    for text in ("one", "two"):
        atomic_write_text("{path}", text)
"""


@pytest.mark.parametrize(
    ("step", "left", "temps"),
    [("before-write", "one", 0), ("before-rename", "one", 1), ("after-rename", "two", 0)],
)
def test_the_hook_kills_the_process_at_the_named_step(tmp_path, step, left, temps):
    path = tmp_path / "log.csv"
    proc = python(WRITE_TWICE.format(path=path), SAUNET_FAULT=f"{step}:log.*#2:abort")
    assert proc.returncode == -signal.SIGKILL
    assert path.read_text() == left
    assert len(list(tmp_path.glob(".log.csv.pid*.tmp"))) == temps


def test_the_hook_ignores_other_files_and_sleeps_on_request(tmp_path):
    path = tmp_path / "log.csv"
    proc = python(WRITE_TWICE.format(path=path),
                  SAUNET_FAULT="before-write:last.*:abort;after-rename:log.csv:sleep:0.01")  # fmt: skip
    assert proc.returncode == 0 and path.read_text() == "two"


@pytest.mark.parametrize("rule", ["mid-write:x:abort", "after-rename:x", "after-rename:x:explode"])
def test_a_malformed_rule_is_refused(rule):
    with pytest.raises(ValueError, match="SAUNET_FAULT"):
        _parse_fault_rule(rule)


def test_temps_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = python("import os; print(os.getpid())").stdout.strip()
    stale = tmp_path / "sub" / f".x.bin.pid{dead}.abcd1234.tmp"
    live = tmp_path / f".x.bin.pid{os.getpid()}.abcd1234.tmp"
    old = tmp_path / ".x.bin.abcd1234.tmp"
    stale.parent.mkdir()
    for p in (stale, live, old):
        p.write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == [stale]
    os.utime(old, (0, 0))  # a day old: named before temp names carried the PID
    assert remove_stale_temps(tmp_path) == [old]
    assert live.exists()


HOLD_LOCK = """
    import sys, time
    from saunet.utils.lock import FolderLock
    with FolderLock(sys.argv[1], "saunet segment"):
        print("locked", flush=True)
        time.sleep(60)
"""


def test_a_second_writer_is_refused_by_name_until_the_first_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD_LOCK), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusy, match=rf"PID {holder.pid} \(saunet segment\)"):
            FolderLock(tmp_path, "saunet train").acquire()
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # left by the killed holder
    with FolderLock(tmp_path, "saunet train") as lock:
        assert lock.path.read_text().startswith(f"{os.getpid()} saunet train")
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot write here"):
        FolderLock(tmp_path / "file" / "run", "saunet train").acquire()


def test_atomic_writes_name_their_writer(tmp_path):
    seen = []

    def writer(tmp: str) -> None:
        seen.append(os.path.basename(tmp))
        Path(tmp).write_text("x")

    atomic_write(tmp_path / "b.txt", writer)
    assert seen[0].startswith(f".b.txt.pid{os.getpid()}.") and seen[0].endswith(".tmp")


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    """A 20000 x 20000 bilevel PNG (49 kB on disk, 400 megapixels)."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("1", (20000, 20000)).save(path)
    return path


def test_a_huge_image_names_the_setting_that_admits_it(huge_png, monkeypatch):
    monkeypatch.delenv("SAUNET_MAX_PIXELS", raising=False)
    with pytest.raises(DataError, match="20000 x 20000 = 400,000,000 pixels") as info:
        image_size(huge_png)
    assert "SAUNET_MAX_PIXELS=400000000" in str(info.value)
    assert "intact copy" not in str(info.value)
    monkeypatch.setenv("SAUNET_MAX_PIXELS", "400000000")
    assert image_size(huge_png) == (20000, 20000)
    monkeypatch.setenv("SAUNET_MAX_PIXELS", "lots")
    with pytest.raises(DataError, match="SAUNET_MAX_PIXELS='lots'"):
        image_size(huge_png)


def test_the_limit_is_also_a_parameter(tmp_path, monkeypatch):
    monkeypatch.delenv("SAUNET_MAX_PIXELS", raising=False)
    path = tmp_path / "small.png"
    Image.new("RGB", (30, 20)).save(path)
    with pytest.raises(DataError, match="above the limit of 599"):
        open_image(path, max_pixels=599)
    assert open_image(path, max_pixels=600).size == (30, 20)
    assert open_image(path, max_pixels=0).size == (30, 20)  # 0: no limit
