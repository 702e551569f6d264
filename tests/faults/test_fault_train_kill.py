"""``kill -9`` of a real ``saunet train`` at chosen steps, then ``--resume``: the weights
equal an uninterrupted run bit for bit, the log has one row per epoch, nothing is left
half-written (issue 26, faults 1, 2 and 6)."""

from __future__ import annotations

import json
import signal
import time

import pytest
from faultkit import EPOCHS, assert_same_as, assert_survived_kill, log_rows, saunet

from saunet.cli import main
from saunet.utils.lock import LOCK_NAME

#: One kill per process, in this order, the second resuming the first one's run: epoch 2's
#: weights complete in their temp file, not renamed (its sidecar, written first, is ahead);
#: then, resumed, right after the weights' rename (that epoch's log row unwritten).
CHAIN = (
    "before-rename:last.safetensors#2:abort",
    "after-rename:last.safetensors#1:abort",
)


def test_a_chain_of_kills_and_resumes_ends_as_an_uninterrupted_run(
    recipe, baseline, tmp_path, one_thread
):
    run = tmp_path / "killed"
    args = ["train", "--config", str(recipe), "--out", str(run), "--no-test-eval"]
    done, rows, ahead = [], [], []
    for fault in CHAIN:
        proc = saunet(*args, fault=fault)
        assert proc.returncode == -signal.SIGKILL, (fault, proc.stderr[-2000:])
        done.append(assert_survived_kill(run))
        rows.append(len(log_rows(run)))
        ahead.append(json.loads((run / "last.json").read_text())["epoch"] + 1 - done[-1])
        assert (run / LOCK_NAME).exists()  # a dead writer's lock is left behind, stale
        args = ["train", "--resume", str(run), "--no-test-eval"]
    # The second kill came between epoch 2's weights and its log row. last.json is never
    # behind the weights.
    assert done == [1, 2] and rows == [1, 1] and ahead == [1, 0]
    # The last resume runs in this process: it takes over the stale lock, restores the
    # missing row from last.safetensors, rewrites last.json, removes the dead temp files.
    assert main(args) == 0
    assert_same_as(run, baseline)


def test_a_resume_while_the_run_trains_is_refused_by_name(
    recipe, baseline, tmp_path, one_thread, capsys
):
    run = tmp_path / "busy"
    proc = saunet("train", "--config", str(recipe), "--out", str(run), "--no-test-eval",
                  fault="after-rename:log.csv#2:sleep:120", wait=False)  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if (run / "log.csv").is_file() and len(log_rows(run)) == 2:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        for argv in (["train", "--resume", str(run)],
                     ["train", "--config", str(recipe), "--out", str(run)]):  # fmt: skip
            assert main(argv) == 2
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and f"PID {proc.pid}" in err and "saunet train" in err
    finally:
        proc.send_signal(signal.SIGKILL)  # kill -9 while it sleeps after epoch 2's log
        proc.wait()
    assert assert_survived_kill(run) == 2
    assert main(["train", "--resume", str(run), "--no-test-eval"]) == 0
    assert_same_as(run, baseline)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [
        "before-write:last.safetensors#3:abort",
        "before-rename:last.json#3:abort",
        "after-rename:last.json#3:abort",
        "before-rename:best.safetensors#2:abort",
        "after-rename:best.safetensors#2:abort",
        "before-rename:epoch0003.safetensors:abort",
        "before-rename:log.csv#3:abort",
        "after-rename:log.csv#3:abort",
        "before-write:curves.png#1:abort",
    ],
)
def test_one_kill_at_each_step_then_resume(recipe, baseline, tmp_path, fault):
    run = tmp_path / "killed"
    proc = saunet("train", "--config", str(recipe), "--out", str(run), "--no-test-eval",
                  fault=fault)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert 0 < assert_survived_kill(run) < EPOCHS
    proc = saunet("train", "--resume", str(run), "--no-test-eval")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_as(run, baseline)
