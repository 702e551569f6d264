"""One writer per folder: a lock file that names its holder and dies with it.

``FolderLock(folder, "saunet train")`` creates ``folder/.saunet.lock`` holding the
holder's PID and command, and takes an exclusive ``flock`` on it. The kernel drops the
``flock`` when the process ends, however it ends (``kill -9`` included), so a lock file left
by a dead process is stale and the next writer takes it over; a live holder makes every
other writer stop with one line naming the folder, the PID and the command. On systems
without ``fcntl`` the PID alone decides (:func:`saunet.utils.files.pid_alive`).

Readers never need the lock; only commands that write into a folder take it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from types import TracebackType

from saunet.errors import UserError
from saunet.utils.files import pid_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "FolderBusy", "FolderLock"]

log = logging.getLogger(__name__)
LOCK_NAME = ".saunet.lock"


class FolderBusy(UserError):
    """Another live process holds the folder's lock."""


def _holder(path: Path) -> tuple[int, str]:
    """``(pid, command)`` recorded in a lock file; ``(0, "")`` when unreadable."""
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        pid, _, command = first.partition(" ")
        return int(pid), command
    except (OSError, IndexError, ValueError, UnicodeDecodeError):
        return 0, ""


class FolderLock:
    """Exclusive write access to ``folder`` for this process (module docstring).

    Use as a context manager or call :meth:`acquire` / :meth:`release`. ``acquire`` raises
    :class:`FolderBusy` when a live process holds the lock, and :class:`UserError` when the
    folder cannot be created or written (found before any work is done).
    """

    def __init__(self, folder: str | os.PathLike, command: str, name: str = LOCK_NAME) -> None:
        self.folder = Path(folder)
        # Another name lets writers that share a folder by design (segment's torchrun
        # ranks, each writing its own files) exclude only their own kind.
        self.path = self.folder / name
        self.command = command
        self._fd: int | None = None

    def _busy(self, pid: int, command: str) -> FolderBusy:
        who = f"PID {pid}" + (f" ({command})" if command else "")
        return FolderBusy(
            f"{self.folder}: another saunet process, {who}, is writing into this folder; "
            "wait for it to finish or stop it, or choose another folder"
        )

    def acquire(self) -> FolderLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for _ in range(10):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                if self._try_lock(fd):
                    self._fd = fd
                    self._write_holder()
                    return self
                os.close(fd)
            raise self._busy(*_holder(self.path))  # pragma: no cover - lost every race
        except OSError as exc:
            raise UserError(
                f"{self.folder}: cannot write here ({exc.strerror or exc}); "
                "choose a writable folder"
            ) from exc

    def _try_lock(self, fd: int) -> bool:
        """Lock ``fd``; False (to retry) if the path now names another file; raise if busy."""
        pid, command = _holder(self.path)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy(pid, command) from None
        elif pid and pid != os.getpid() and pid_alive(pid):
            os.close(fd)
            raise self._busy(pid, command)
        # The holder before us may have unlinked the file between our open and our flock.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if same and pid and pid != os.getpid():
            log.warning(
                "%s: taking over the lock of PID %d (%s), which is no longer running",
                self.folder, pid, command or "unknown command",
            )  # fmt: skip
        return same

    def _write_holder(self) -> None:
        assert self._fd is not None
        text = f"{os.getpid()} {self.command}\nsince {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode("utf-8"), 0)

    def release(self) -> None:
        """Remove the lock file and drop the lock (safe to call twice)."""
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire() if self._fd is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
