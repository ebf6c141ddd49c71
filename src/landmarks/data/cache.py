"""The decoded-image cache: decode each photo once, then feed every epoch from uint8 tensors.

Decoding an 800-px JPEG costs more than the whole augmentation pipeline, and a 2-core machine pays it
for every image of every epoch. The store keeps each photo resized (shorter side `size`) on disk,
keyed by the SHA-256 of its bytes, and holds loaded tensors in memory (the 50-class dataset at 256 px
is ~1.6 GB, which a training machine has).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from landmarks.data.decode import cache_entry, decode_into_cache, file_digest, save_atomically
from landmarks.data.images import SkippedFile, decode_resized
from landmarks.errors import BadImageError

DEFAULT_SIZE = 256
"""Shorter side of cached images: >= the largest training crop we use (224), with room to crop."""

_SERIAL_BELOW = 8
"""Decode fewer files than this on the calling thread: a pool would cost more than it saves."""


def default_workers() -> int:
    """Two decode threads at most: the target machines have 2 cores and others share them."""
    return max(1, min(2, os.cpu_count() or 1))


class DecodedImageStore:
    """Decoded, resized photos: in memory once loaded, on disk across runs.

    `digests` (path -> SHA-256, as recorded in a prepared manifest) spares re-hashing files; paths
    missing from it are hashed on first use. The store pickles without its in-memory tensors, so
    DataLoader workers started with spawn get a light copy that reloads from disk.
    Not thread-safe for concurrent `warm` calls on one instance; `load` from DataLoader worker
    processes is fine (each has its own copy).
    """

    def __init__(
        self,
        images_dir: Path,
        size: int = DEFAULT_SIZE,
        *,
        digests: Mapping[Path, str] | None = None,
        workers: int | None = None,
        keep_in_memory: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, not {size}")
        self.images_dir = Path(images_dir)
        self.size = size
        self.workers = workers if workers is not None else default_workers()
        self.keep_in_memory = keep_in_memory
        self._digests: dict[Path, str] = dict(digests or {})
        self._tensors: dict[str, torch.Tensor] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tensors"] = {}
        return state

    def __repr__(self) -> str:
        return (
            f"DecodedImageStore({str(self.images_dir)!r}, size={self.size}, "
            f"known={len(self._digests)}, in_memory={len(self._tensors)})"
        )

    def digest(self, path: Path) -> str:
        """The content key of `path` (from the manifest, else by hashing the file)."""
        path = Path(path)
        known = self._digests.get(path)
        if known is None:
            try:
                known = file_digest(path)
            except OSError as exc:
                raise BadImageError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
            self._digests[path] = known
        return known

    def entry(self, path: Path) -> Path:
        """The on-disk cache file of `path`."""
        return cache_entry(self.images_dir, self.size, self.digest(path))

    def load(self, path: Path) -> torch.Tensor:
        """uint8 [3, H, W] with min(H, W) == size (or the original's shorter side, if smaller).

        Decodes and caches the photo if needed; a damaged cache entry is decoded again. Raises
        BadImageError naming the file when the photo itself cannot be used. The tensor is the one
        held in memory: transform it, never modify it in place.
        """
        digest = self.digest(path)
        tensor = self._tensors.get(digest)
        if tensor is not None:
            return tensor
        target = cache_entry(self.images_dir, self.size, digest)
        array = _read_entry(target)
        if array is None:
            array = decode_resized(Path(path), self.size)
            save_atomically(array, target)
        tensor = torch.from_numpy(array)
        if self.keep_in_memory:
            self._tensors[digest] = tensor
        return tensor

    def warm(self, paths: Sequence[Path], progress: bool = True, *, preload: bool = False) -> list[SkippedFile]:
        """Decode every photo not cached yet, in parallel; return the photos that cannot be used.

        With `preload`, also read the cached tensors into memory (what an epoch would do anyway).
        """
        paths = list(dict.fromkeys(Path(p) for p in paths))
        missing = [p for p in paths if not self._is_cached(p)]
        skipped: list[SkippedFile] = []
        bar = tqdm(
            total=len(missing),
            desc=f"Decoding photos ({self.size} px)",
            unit="img",
            disable=not progress or not missing,
        )
        with bar:
            for path, digest, problem in self._decode(missing):
                if digest is None:
                    reason = problem or "cannot be decoded"
                    skipped.append(SkippedFile(path, reason.removeprefix(f"{path}: ")))
                else:
                    self._digests[path] = digest
                bar.update()
        if preload:
            bad = {s.path for s in skipped}
            for path in tqdm(paths, desc="Loading cached photos", unit="img", disable=not progress):
                if path not in bad:
                    self.load(path)
        return skipped

    def _is_cached(self, path: Path) -> bool:
        """Known digest and entry on disk; unknown paths are hashed by the workers, not here."""
        digest = self._digests.get(path)
        return digest is not None and cache_entry(self.images_dir, self.size, digest).is_file()

    def _decode(self, paths: list[Path]) -> Iterator[tuple[Path, str | None, str | None]]:
        if len(paths) < _SERIAL_BELOW or self.workers <= 1:
            for path in paths:
                yield decode_into_cache(path, self.images_dir, self.size)
            return
        # Threads, not processes: Pillow's decoders and resampling and hashlib release the GIL, so
        # threads decode in parallel without a process pool's start-up cost, its need for an
        # `if __name__ == "__main__"` guard in user scripts (spawn), or fork's hazards with torch.
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="decode") as pool:
            yield from pool.map(
                decode_into_cache, paths, itertools.repeat(self.images_dir), itertools.repeat(self.size)
            )

    def known_digests(self) -> dict[Path, str]:
        """Path -> content digest of every file this store has seen (what a manifest records)."""
        return dict(self._digests)

    def in_memory(self) -> int:
        """How many decoded photos are held in memory."""
        return len(self._tensors)

    def forget(self) -> None:
        """Drop the in-memory tensors (the on-disk cache stays)."""
        self._tensors.clear()


def _read_entry(target: Path) -> np.ndarray | None:
    """The cached array, or None when absent or damaged (it is then decoded again)."""
    try:
        array = np.load(target, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):
        target.unlink(missing_ok=True)
        return None
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[0] != 3:
        target.unlink(missing_ok=True)
        return None
    return array
