"""One run at a time per library: an exclusive `flock` on a lock file beside the database.

The kernel drops an flock when its process dies (even by SIGKILL), so a crashed run never leaves a
stale lock behind; the pid written into the file only makes the refusal message useful.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from landmarks.errors import LibraryError

POLL_S = 0.05


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


class LibraryLock:
    """An exclusive lock on one library index: `acquire(timeout)` waits, then refuses clearly."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path_for(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float) -> LibraryLock:
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LibraryError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    os.close(fd)
                    raise LibraryError(
                        f"the library index {self.db_path} is in use by another landmarks run"
                        f"{f' (pid {holder})' if holder else ''}; waited {timeout:g} s, try again when it has finished"
                    ) from None
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return ""
