"""One job per output: an OS lock on ``OUT.parts/.lock``, held from the start of a job (plain or ``--resume``)
to its end.

The operating system releases it when the process ends, however it ends (Ctrl-C, ``kill -9``, a crash),
so a lock never outlives its job and never blocks a resume; a second job on the same ``OUT`` while the
first runs gets :class:`~.errors.JobRunningError` at once instead of scoring the same rows and removing
the other's temporary parts.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import JobRunningError

try:
    import fcntl
except ImportError:  # Windows: msvcrt locks a byte range instead
    fcntl = None  # type: ignore[assignment]
    import msvcrt

LOCK_FILE = ".lock"


class JobLock:
    """The lock of the job whose parts are in ``folder``; :meth:`acquire` it, :meth:`release` it at the end."""

    def __init__(self, folder: Path, out: Path):
        self.path = folder / LOCK_FILE
        self.out = out
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock (the folder must exist); JobRunningError when another job holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            raise self.refusal()
        if not _still_there(fd, self.path):  # the other job finished and removed its folder as we took the lock
            os.close(fd)
            raise JobRunningError(f"another lychee-rerank batch job on {self.out} ended as this one started; "
                                  "run the command again")
        self._fd = fd

    def held_elsewhere(self) -> bool:
        """Whether another job holds the lock now (the lock file is not created for this question)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            return not _try_lock(fd)
        finally:
            os.close(fd)  # closing drops a lock taken just now

    def refusal(self) -> JobRunningError:
        return JobRunningError(
            f"another lychee-rerank batch job is writing {self.out} (its parts are in {self.path.parent}): wait for "
            "it to end, or give another --out"
        )

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _still_there(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
