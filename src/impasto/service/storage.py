"""Free space in the data directory: the floor below which the service stops taking uploads and the
workers stop starting jobs, and how a full disk is recognised in an exception.

A full disk is not an error of the request or of the job: the API answers 507 (and ``/healthz`` says
``degraded``), a worker puts its job back in the queue and waits, and both carry on by themselves
once space returns.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import time
from pathlib import Path

#: errno values meaning "no room": the file system is full, or the user's quota is.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"


class StorageFull(Exception):
    """The data directory has less free space than the floor, or a write ran out of room (→ 507)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from or during) means the disk or quota is full."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, StorageFull):
            return True
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.OperationalError) and (
            getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc)
        ):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def free_bytes(path: str | Path) -> int:
    """Bytes free for ordinary users on the file system holding ``path`` (reserved blocks excluded)."""
    return shutil.disk_usage(path).free


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 10 * 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


class Disk:
    """The data directory's free space against a floor (``impasto serve --min-free-mb``)."""

    def __init__(self, data_dir: str | Path, min_free_mb: float) -> None:
        self.data_dir = Path(data_dir)
        self.floor = int(min_free_mb * 1024 * 1024)
        self._checked = 0.0
        self._problem: str | None = None

    def problem(self, need: int = 0, *, max_age: float = 1.0) -> str | None:
        """Why the disk cannot take ``need`` more bytes now (None when it can); cached ``max_age`` s."""
        now = time.monotonic()
        if need or now - self._checked >= max_age:
            try:
                free = free_bytes(self.data_dir)
            except OSError as exc:
                return f"cannot read the free space of '{self.data_dir}': {exc.strerror or exc}"
            problem = None
            if free - need < self.floor:
                what = f"{_mb(free)} free" + (f", {_mb(need)} more needed" if need else "")
                problem = (
                    f"disk full: {what} in '{self.data_dir}', below the floor of {_mb(self.floor)} "
                    "(impasto serve --min-free-mb)"
                )
            if need:
                return problem
            self._checked, self._problem = now, problem
        return self._problem

    def check(self, need: int = 0) -> None:
        """Raise :class:`StorageFull` when the disk cannot take ``need`` more bytes above the floor."""
        problem = self.problem(need)
        if problem is not None:
            raise StorageFull(problem)

    def ran_out(self) -> StorageFull:
        """The error to raise when a write just failed for lack of room (the next check looks afresh)."""
        self._checked = 0.0
        try:
            free = _mb(free_bytes(self.data_dir))
        except OSError:
            free = "unknown"
        return StorageFull(f"disk full: no space left in '{self.data_dir}' ({free} free); try again later")
