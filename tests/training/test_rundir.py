"""``saunet.training.rundir``: the log rows a resume keeps, and the run folder's checks."""

from __future__ import annotations

import pytest

from saunet.errors import UserError
from saunet.training.rundir import LOG_FIELDS, prepare_run_dir, read_log, resume_rows, write_log


def row(epoch: int) -> dict:
    return {k: (epoch if k == "epoch" else 0.5 + epoch / 8) for k in LOG_FIELDS}


@pytest.mark.parametrize(
    ("logged", "meta_epoch", "kept"),
    [
        ([1, 2, 3], 2, [1, 2, 3]),  # epochs are counted from 1 in the log, from 0 in meta
        ([1, 2], 2, [1, 2, 3]),  # killed between the checkpoint and the log: row restored
        ([1, 2, 3, 4], 1, [1, 2]),  # resumed from an older checkpoint: later rows dropped
    ],
)
def test_resume_keeps_one_row_per_epoch_done(tmp_path, logged, meta_epoch, kept):
    write_log(tmp_path / "log.csv", [row(e) for e in logged])
    rows = resume_rows(tmp_path, {"epoch": meta_epoch, "metrics": row(meta_epoch + 1)})
    assert rows == [row(e) for e in kept]  # values exact at 6 significant digits


def test_an_unreadable_log_is_rebuilt_from_the_checkpoint(tmp_path, caplog):
    (tmp_path / "log.csv").write_text("epoch,train_loss\nnot a number,1\n")
    rows = resume_rows(tmp_path, {"epoch": 0, "metrics": row(1)})
    assert [r["epoch"] for r in rows] == [1] and "unreadable" in caplog.text
    write_log(tmp_path / "log.csv", rows)
    assert read_log(tmp_path / "log.csv") == [row(1)]


def test_a_new_run_ignores_only_lock_and_temp_files(tiny_dataset, tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".saunet.lock").write_text("1 saunet train\n")
    (run / ".log.csv.pid1.abcd1234.tmp").write_text("partial")
    _, lock, _ = prepare_run_dir(run, tiny_config(tiny_dataset), resume=False)
    lock.release()
    assert (run / "config.yaml").is_file()
    with pytest.raises(UserError, match="not empty"):
        prepare_run_dir(run, tiny_config(tiny_dataset), resume=False)
    assert not (run / ".saunet.lock").exists()  # released on the way out
