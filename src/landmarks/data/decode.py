"""Decode one photo into the on-disk decoded-image cache.

Runs on `DecodedImageStore.warm`'s decode threads (Pillow and hashlib release the GIL), and needs
no torch. Cache entries are `<images_dir>/<size>px/<sha[:2]>/<sha256 of the file>.npy`: keyed by
content, so renamed or duplicated photos share one entry and an edited photo gets a new one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from landmarks.atomic import atomic_open
from landmarks.data.images import decode_resized
from landmarks.errors import BadImageError, LandmarksError


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes: the cache key."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_entry(images_dir: Path, size: int, digest: str) -> Path:
    """Where the decoded array of the file with this digest lives."""
    return images_dir / f"{size}px" / digest[:2] / f"{digest}.npy"


def save_atomically(array: np.ndarray, target: Path) -> None:
    """Write beside, then rename: a killed run or a concurrent writer (another thread decoding an
    identical photo, another process) never leaves half an array under the final name.

    Raises LandmarksError when the cache cannot be written (disk full, read-only): that is the
    cache's problem, not the photo's, so it must not be reported as a bad photo.
    """
    try:
        with atomic_open(target, "wb") as output:
            np.save(output, array, allow_pickle=False)
    except OSError as exc:
        raise LandmarksError(
            f"cannot write the decoded-image cache in {target.parent}: {exc.strerror or exc} "
            "(free some space or point LANDMARKS_CACHE elsewhere)"
        ) from None


def decode_into_cache(path: Path, images_dir: Path, size: int) -> tuple[Path, str | None, str | None]:
    """Make sure the cache holds `path`; return (path, digest, None) or (path, None, reason it is bad)."""
    try:
        digest = file_digest(path)
        target = cache_entry(images_dir, size, digest)
        if target.is_file():
            return path, digest, None
        array = decode_resized(path, size)
    except BadImageError as exc:
        return path, None, str(exc)
    except OSError as exc:
        return path, None, f"{path}: cannot read the file ({exc.strerror or exc})"
    save_atomically(array, target)
    return path, digest, None
