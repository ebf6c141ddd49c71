"""Files of the retrieval cache: entries named by the digest of what they were computed from.

Why one place: the whitening, the class prototypes and the FAISS indexes are each recomputed from
arrays that can reach gigabytes, and each keeps its result in the cache folder the same way. The key
hashes every byte of the inputs in chunks (no copy of a large array); an entry is written atomically,
and a read-only or full cache folder only costs the next load the computation again, never an error.
numpy only.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from landmarks.atomic import atomic_write_bytes

CHUNK = 1 << 24
"""Bytes hashed per update: large arrays are hashed without a copy."""


def digest(header: str, *arrays: np.ndarray) -> str:
    """32 hex digits of SHA-256 over `header` then every byte of `arrays` (as laid out in C order)."""
    h = hashlib.sha256(header.encode())
    for array in arrays:
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        for start in range(0, len(flat), CHUNK):
            h.update(flat[start : start + CHUNK])
    return h.hexdigest()[:32]


def write_quietly(path: Path, data: bytes) -> None:
    """Keep a computed entry: atomically, or not at all when the folder cannot take it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError:
        pass


def read_arrays(path: Path, *names: str) -> tuple[np.ndarray, ...] | None:
    """The named arrays of an `.npz` entry, or None when it is missing, damaged or lacks one of them."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return tuple(npz[name] for name in names)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def write_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Keep named arrays as an `.npz` entry (quietly, as `write_quietly`)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_quietly(path, buffer.getvalue())
