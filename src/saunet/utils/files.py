"""Files written so that a crash never leaves a partial one: atomic writes and hashes.

Fault injection: the environment variable ``SAUNET_FAULT`` makes :func:`atomic_write` stop
at a named step, so that tests (``tests/faults/``) can kill a real run at a chosen moment.
Its value is one or more ``;``-separated rules ``STEP:PATTERN[#N]:ACTION``:

* ``STEP``: ``before-write`` (nothing written yet), ``before-rename`` (the temporary file is
  complete, the destination still old) or ``after-rename`` (the destination is new);
* ``PATTERN``: a shell pattern matched against the destination's file name
  (``last.safetensors``, ``epoch*.safetensors``); ``#N`` fires at the N-th matching write
  of the process only (default: the first);
* ``ACTION``: ``abort`` (the process sends itself SIGKILL, as ``kill -9`` would) or
  ``sleep:SECONDS`` (time for a test to kill it from outside).

Example: ``SAUNET_FAULT=after-rename:last.safetensors#2:abort``. When the variable is unset
the hook costs one environment lookup per write.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "FAULT_ENV",
    "atomic_write",
    "atomic_write_text",
    "file_sha256",
    "pid_alive",
    "remove_stale_temps",
]

FAULT_ENV = "SAUNET_FAULT"
FAULT_STEPS = ("before-write", "before-rename", "after-rename")
#: Temporary files of :func:`atomic_write`: ``.<name>.pid<PID>.<random>.tmp``.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.pid(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
#: Temporary files written before they carried the writer's PID; stale after a day.
_LEGACY_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
LEGACY_TEMP_AGE_S = 24 * 3600.0
_fault_counts: dict[tuple[str, str], int] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks): identifies weights in metadata."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _parse_fault_rule(rule: str) -> tuple[str, str, int, str]:
    """``STEP:PATTERN[#N]:ACTION`` -> ``(step, pattern, n, action)``; ValueError if malformed."""
    parts = rule.split(":", 2)
    if len(parts) != 3 or parts[0] not in FAULT_STEPS:
        raise ValueError(
            f"{FAULT_ENV}={rule!r}: expected STEP:PATTERN[#N]:ACTION with STEP one of "
            f"{', '.join(FAULT_STEPS)}"
        )
    step, pattern, action = parts
    n = 1
    if "#" in pattern:
        pattern, count = pattern.rsplit("#", 1)
        n = int(count)
    if action != "abort" and not re.fullmatch(r"sleep:\d+(\.\d+)?", action):
        raise ValueError(f"{FAULT_ENV}={rule!r}: ACTION must be abort or sleep:SECONDS")
    return step, pattern, n, action


def _fault_point(step: str, path: Path) -> None:
    """Abort or sleep here if ``$SAUNET_FAULT`` names this step and file (module docstring)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for rule in filter(None, spec.split(";")):
        rule_step, pattern, n, action = _parse_fault_rule(rule)
        if rule_step != step or not fnmatch.fnmatchcase(path.name, pattern):
            continue
        key = (rule, step)
        _fault_counts[key] = _fault_counts.get(key, 0) + 1
        if _fault_counts[key] != n:
            continue
        if action == "abort":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(action.split(":", 1)[1]))


_umask_lock = threading.Lock()


def _current_umask() -> int:
    """The process umask. Reading it means setting it, so threads writing at once (the lanes
    of ``saunet segment``) take turns: unguarded, one could read the other's temporary 0."""
    with _umask_lock:
        umask = os.umask(0)
        os.umask(umask)
    return umask


def atomic_write(path: str | os.PathLike, writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp_path)`` then rename the temporary file over ``path``.

    The temporary file lives in the destination folder so the rename is atomic; a crash
    at any moment leaves either the old file or the new one, never a partial one. Its name,
    ``.<name>.pid<PID>.<random>.tmp``, tells :func:`remove_stale_temps` whether its writer
    is still running.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _fault_point("before-write", path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    try:
        writer(tmp)
        # mkstemp creates 0600 files; give the result the permissions of a normal file.
        os.chmod(tmp, 0o666 & ~_current_umask())
        _fault_point("before-rename", path)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fault_point("after-rename", path)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, as :func:`atomic_write`."""

    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, _write)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        # "PID (comm) STATE ...": a killed child that nobody has reaped yet is "Z".
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def remove_stale_temps(folder: str | os.PathLike, *, now: float | None = None) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` below ``folder`` whose writer died.

    A file is stale when the PID in its name no longer runs, or, for files named before
    names carried a PID, when it is older than :data:`LEGACY_TEMP_AGE_S`. Files of live
    writers are kept. Returns the removed paths.
    """
    now = time.time() if now is None else now
    removed = []
    for p in Path(folder).rglob(".*.tmp"):
        m = _TEMP_RE.match(p.name)
        try:
            if m:
                stale = not pid_alive(int(m["pid"]))
            else:
                stale = bool(_LEGACY_TEMP_RE.match(p.name)) and (
                    now - p.stat().st_mtime > LEGACY_TEMP_AGE_S
                )
            if stale and p.is_file():
                p.unlink()
                removed.append(p)
        except FileNotFoundError:
            continue  # its writer renamed or removed it meanwhile
    return removed
