"""Atomic file writes: write a uniquely named temporary beside the target, fsync, then rename over it.

A reader (or a run killed half-way) sees the old file or the new one, never a mix; two processes
writing the same target never share a temporary, because each gets its own `mkstemp` name.
Temporaries are hidden (`.NAME.XXXX.tmp`) and removed when the write fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """`open()` for writing whose result appears under `path` only when the block ends without error."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not a write mode")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: Path | str, text: str, *, encoding: str = "utf-8", errors: str = "strict") -> Path:
    with atomic_open(path, "w", encoding=encoding, errors=errors, newline="") as handle:
        handle.write(text)
    return Path(path)
