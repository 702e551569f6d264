"""Bad output folders, damaged configs and surprising resumes of ``saunet train``: one line
and exit 2, found before any work (issue 26, faults 3, 5 and 6)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
import yaml
from faultkit import log_rows

import saunet.training.loop as loop
from saunet.cli import main
from saunet.errors import UserError
from saunet.models.checkpoint import read_checkpoint
from saunet.training.rundir import absolute_data_root, prepare_run_dir
from saunet.utils.lock import FolderLock


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if training gets as far as loading data."""

    def refuse(*_a, **_k):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(loop, "load_training_data", refuse)


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_out_naming_a_regular_file_is_one_line(recipe, tmp_path, no_work, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    assert main(["train", "--config", str(recipe), "--out", str(out)]) == 2
    assert "is a file, not a folder" in one_line(capsys)
    assert out.read_text() == "mine"


def test_an_uncreatable_out_is_found_before_work(recipe, no_work, capsys):
    assert main(["train", "--config", str(recipe), "--out", "/proc/saunet-run"]) == 2
    assert "/proc/saunet-run: cannot write here" in one_line(capsys)


def test_a_read_only_out_is_found_before_work(recipe, tmp_path, no_work, monkeypatch, capsys):
    # Tests may run as root, whom file modes do not stop: the filesystem's answer is faked.
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "ro")]) == 2
    assert "cannot write here (Read-only file system)" in one_line(capsys)


@pytest.fixture
def resumable(tmp_path, tiny_checkpoint):
    """A run folder with something to resume from (its config is what the test damages)."""
    run = tmp_path / "fake-run"
    tiny_checkpoint(run / "last.safetensors")
    return run


@pytest.mark.parametrize(
    "content",
    [b"train: {epochs: [2\n", b"\xff\xfe\x00\x81 not text", b"", b"train: 5\n",
     b"train: {epochs: many}\n"],
    ids=["parser-error", "not-utf8", "empty", "section-not-a-mapping", "wrong-type"],
)  # fmt: skip
def test_a_damaged_config_on_resume_is_one_line(resumable, content, no_work, capsys):
    (resumable / "config.yaml").write_bytes(content)
    assert main(["train", "--resume", str(resumable)]) == 2
    assert str(resumable / "config.yaml") in one_line(capsys)


def test_resume_applies_more_epochs_and_refuses_other_changes(trained, capsys):
    for override, key in (("model.channels=[8,16,32]", "model.channels"),
                          ("train.seed=7", "train.seed"), ("train.lr=0.5", "train.lr")):  # fmt: skip
        assert main(["train", "--resume", str(trained), override]) == 2
        err = one_line(capsys)
        assert f"{key} cannot change on --resume" in err and "train.epochs" in err
    assert main(["train", "--resume", str(trained), "--seed", "7"]) == 2
    assert "train.seed cannot change" in one_line(capsys)
    assert main(["train", "--resume", str(trained), "train.epochs=1"]) == 2
    assert "fewer than the 2 epochs already done" in one_line(capsys)
    assert main(["train", "--resume", str(trained), "--no-test-eval", "train.epochs=3"]) == 0
    assert [r["epoch"] for r in log_rows(trained)] == ["1", "2", "3"]
    assert yaml.safe_load((trained / "config.yaml").read_text())["train"]["epochs"] == 3


def test_resume_combined_with_config_is_refused(resumable, recipe, no_work, capsys):
    assert main(["train", "--resume", str(resumable), "--config", str(recipe)]) == 2
    assert "--config cannot be combined with --resume" in one_line(capsys)


def test_resume_remembers_the_data_root(tiny_dataset, tiny_config, tmp_path, monkeypatch,
                                        one_thread):  # fmt: skip
    root = tmp_path / "data"  # tiny_dataset's folders, named relative to the data root
    folder = {split: {k: os.path.relpath(v, root) for k, v in spec.items()}
              for split, spec in tiny_dataset.items()}  # fmt: skip
    recipe = tmp_path / "relative.yaml"
    recipe.write_text(yaml.safe_dump(tiny_config(folder, epochs=1, threads=1).to_dict()))
    run = tmp_path / "run"
    argv = ["train", "--config", str(recipe), "--data-root", str(root), "--out", str(run)]
    assert main([*argv, "--no-test-eval"]) == 0
    monkeypatch.delenv("SAUNET_DATA", raising=False)
    monkeypatch.chdir(tmp_path / "data" / "train")  # relative paths now lead nowhere
    assert main(["train", "--resume", str(run), "--no-test-eval", "train.epochs=2"]) == 0
    assert len(log_rows(run)) == 2
    # Recorded where resume looks, and not in the files that are collected or shipped.
    assert read_checkpoint(run / "last.safetensors")[1]["data_root"] == str(root)
    assert "data_root" not in read_checkpoint(run / "best.safetensors")[1]
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["root"] is None


def test_a_drive_root_is_found_absolute_before_work(tiny_config, tmp_path, monkeypatch):
    (tmp_path / "root" / "DRIVE" / "training").mkdir(parents=True)
    cfg = tiny_config({})
    cfg.data.dataset = "drive"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAUNET_DATA", "root")
    assert absolute_data_root(cfg, None) == str(tmp_path / "root")
    monkeypatch.delenv("SAUNET_DATA")
    with pytest.raises(UserError, match="no data root"):
        prepare_run_dir(tmp_path / "run", cfg, False)
    assert not (tmp_path / "run").exists()


def test_stale_temp_files_are_removed_at_the_next_start(trained, one_thread):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = trained / f".last.safetensors.pid{dead.stdout.strip()}.k2j4h5g6.tmp"
    live = trained / "checkpoints" / f".epoch0002.safetensors.pid{os.getpid()}.a1b2c3d4.tmp"
    legacy = trained / ".log.csv.a1b2c3d4.tmp"  # named before temp names held a PID: kept
    for p in (stale, live, legacy):
        p.write_bytes(b"partial")
    assert main(["train", "--resume", str(trained), "--no-test-eval", "train.epochs=3"]) == 0
    assert not stale.exists() and live.exists() and legacy.exists()


def test_a_stale_lock_of_a_dead_run_is_taken_over(trained, one_thread, caplog):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lock = FolderLock(trained, "x").path
    lock.write_text(f"{dead.stdout.strip()} saunet train\n")
    assert main(["train", "--resume", str(trained), "--no-test-eval", "train.epochs=3"]) == 0
    assert f"taking over the lock of PID {dead.stdout.strip()}" in caplog.text
    assert not lock.exists()
