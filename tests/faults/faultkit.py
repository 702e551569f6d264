"""Helpers of the fault-injection suite: ``saunet`` subprocesses that the ``SAUNET_FAULT``
hook (:mod:`saunet.utils.files`) kills at a named step, and the checks of what must
survive a kill."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from saunet.models.checkpoint import read_checkpoint
from saunet.utils.lock import LOCK_NAME

#: Epochs of the tiny runs: enough for kills in an epoch's middle and its end.
EPOCHS = 4


def saunet(*args: str, fault: str | None = None, wait: bool = True):
    """Run ``python -m saunet ARGS`` with ``SAUNET_FAULT=fault``; the finished process
    (stdout and stderr captured as text) or, with ``wait=False``, the running one."""
    env = {k: v for k, v in os.environ.items() if k != "SAUNET_FAULT"}
    if fault:
        env["SAUNET_FAULT"] = fault
    cmd = [sys.executable, "-m", "saunet", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def log_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def temp_files(run: Path) -> list[Path]:
    return sorted(run.rglob("*.tmp"))


def assert_survived_kill(run: Path) -> int:
    """What must hold right after a kill: ``last.safetensors`` intact, ``last.json`` not
    older than it, the log not ahead of it. Returns the last completed epoch (from 1)."""
    _, meta = read_checkpoint(run / "last.safetensors")
    done = meta["epoch"] + 1
    side = json.loads((run / "last.json").read_text())
    assert side["epoch"] >= meta["epoch"], "last.json names an older epoch than the weights"
    assert len(log_rows(run)) <= done
    return done


def assert_same_as(run: Path, baseline: Path) -> None:
    """After the resumes: the weights equal the uninterrupted run's bit for bit, one log
    row per epoch with the same losses and metrics, sidecars equal to the weights' own
    metadata, no temporary files and no lock left."""
    for name in ("best.safetensors", "last.safetensors"):
        a, _ = read_checkpoint(baseline / name)
        b, meta = read_checkpoint(run / name)
        assert a.keys() == b.keys(), name
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}: {k}"
        assert json.loads((run / name).with_suffix(".json").read_text()) == meta
    timing = {"seconds", "elapsed_minutes", "items_per_second"}
    strip = [{k: v for k, v in r.items() if k not in timing} for r in log_rows(run)]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in log_rows(baseline)]
    assert [r["epoch"] for r in strip] == [str(e) for e in range(1, EPOCHS + 1)]
    assert temp_files(run) == []
    assert not (run / LOCK_NAME).exists()
