"""One geotag run (or undo) per folder at a time: an advisory lock on the folder itself.

`flock` on the folder's own descriptor: nothing is written into the user's folder, and the kernel
drops the lock when the process ends, even by SIGKILL, so a killed run never leaves a stale lock.
A second run on the same folder is refused at once rather than left to fight over the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from landmarks.errors import LandmarksError


class FolderBusyError(LandmarksError):
    """Another geotag run or undo is working in one of the folders."""


@contextlib.contextmanager
def folder_locks(folders: Iterable[Path]) -> Iterator[list[Path]]:
    """Hold an exclusive lock on each existing folder for the block; FolderBusyError if one is taken."""
    held: list[int] = []
    locked: list[Path] = []
    try:
        for folder in sorted({Path(f).resolve() for f in folders}):
            try:
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            except OSError:
                continue  # a folder that is gone or unreadable: its photos fail on their own
            held.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FolderBusyError(
                    f"another geotag run (or --undo) is working in {folder}: wait for it to finish, then try again"
                ) from None
            except OSError:
                continue  # a file system without flock: nothing to hold
            locked.append(folder)
        yield locked
    finally:
        for fd in held:
            os.close(fd)
