"""Open a library file by its index path, never leaving the library root.

The review view addresses photos by index id, but the path the index holds could still point out
(an edited database, a folder swapped for a symlink after the scan). So a path is checked twice:
lexically (relative, no `..`, no empty or `.` parts) and then walked one component at a time with
`openat(O_NOFOLLOW)` from a descriptor of the root, so no symlink is followed anywhere along it, not
even one swapped in between a check and the open. The library scan never follows symlinks either,
so nothing it indexed is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePosixPath

from landmarks.errors import LandmarksError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


class OutsideRootError(LandmarksError):
    """A path that is absolute, climbs out with `..`, or passes through a symlink: answered 403."""


class NotInLibraryError(LandmarksError):
    """A path inside the root that names no regular file (gone, a folder, a device): answered 404."""


class TooLargeError(LandmarksError):
    """A file over the size the service reads into memory: answered 413."""


def check_relative(path: str) -> tuple[str, ...]:
    """The parts of a POSIX path relative to the root, or OutsideRootError."""
    if not path or "\x00" in path or "\\" in path:
        raise OutsideRootError(f"{path!r} is not a path inside the library")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise OutsideRootError(f"{path!r} is absolute: only paths inside the library are served")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OutsideRootError(f"{path!r} leaves the library or is not a plain path")
    return tuple(parts)


def open_confined(root: Path, path: str) -> int:
    """A read-only descriptor of the regular file `root/path`; the caller closes it."""
    parts = check_relative(path)
    fd = os.open(root, _DIR_FLAGS)
    for i, part in enumerate(parts):  # each step closes the folder it started from, even when it fails
        fd = _step(fd, part, _FILE_FLAGS if i == len(parts) - 1 else _DIR_FLAGS, path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotInLibraryError(f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _step(parent: int, name: str, flags: int, path: str) -> int:
    """Open `name` under the descriptor `parent` (closing `parent`), refusing a symlink."""
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or (exc.errno == errno.ENOTDIR and _is_link(parent, name)):
            message = f"{path} passes through a symlink: only files inside the library are served"
            raise OutsideRootError(message) from None
        raise NotInLibraryError(f"{path} cannot be opened ({exc.strerror})") from None
    finally:
        os.close(parent)


def _is_link(parent: int, name: str) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    return False


def read_confined(root: Path, path: str, max_bytes: int) -> bytes:
    """The bytes of `root/path` (see `open_confined`), refusing files over `max_bytes`."""
    fd = open_confined(root, path)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise TooLargeError(f"{path} is {size} bytes, over the {max_bytes}-byte limit for thumbnails")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise TooLargeError(f"{path} grew past the {max_bytes}-byte limit while being read")
    return data
