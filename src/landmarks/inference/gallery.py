"""Adding landmarks to a model's gallery from photos: identity of the model, digests, embeddings.

The gallery's file format and its rules live in `retrieval/gallery.py`; here is what needs the model:
checking the fingerprint that ties a gallery to one backbone and preprocessing (engine/fingerprint.py
makes it; the backend gives it), and turning photos into the
embeddings the retrieval index holds (the same backbone features as the training photos').
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from landmarks.catalog import Landmark
from landmarks.errors import GalleryError, LandmarksError
from landmarks.retrieval.combined import Prototypes
from landmarks.retrieval.gallery import Gallery, GalleryPhoto, open_gallery
from landmarks.retrieval.index import EmbeddingIndex
from landmarks.retrieval.whitening import Whitening
from landmarks.retrieval.whitening import cached as cached_whitening
from landmarks.settings import cache_dir

GALLERY_LOCK = threading.Lock()
"""Serialises changes to galleries within one process (the server's admin endpoint, tests)."""


@contextlib.contextmanager
def changing(gallery_path: Path) -> Iterator[None]:
    """Hold the gallery for a read-change-write: a thread lock, and an advisory `flock` on the folder it lives
    in, so `gallery add` and a server's admin endpoint never overwrite each other's addition. Nothing is
    written for the lock, and the kernel drops it when a process dies."""
    folder = Path(gallery_path).absolute().parent
    folder.mkdir(parents=True, exist_ok=True)
    with GALLERY_LOCK:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            with contextlib.suppress(OSError):  # a file system without flock: the thread lock still holds
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class Embedder(Protocol):
    """What adding needs of a predictor (`inference.predictor.Predictor` has it)."""

    @property
    def checkpoint(self) -> Any: ...

    @property
    def fingerprint(self) -> dict[str, Any]: ...

    def embed_many(self, images: Sequence[Any], batch_size: int = 16) -> list[np.ndarray | LandmarksError]: ...


def read_photo(path: Path) -> bytes:
    """A photo's bytes, read once: the digest and the decoded pixels come from the same bytes."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}") from None


def embed_photos(
    model: Embedder, photos: Sequence[tuple[str, bytes]]
) -> tuple[np.ndarray, list[GalleryPhoto], list[str]]:
    """(name, bytes) photos -> embeddings [M, D] of the readable ones, their records, and one problem line
    for each photo that could not be used."""
    results = model.embed_many([data for _, data in photos])
    rows, records, problems = [], [], []
    for (name, data), result in zip(photos, results, strict=True):
        if isinstance(result, LandmarksError):
            problems.append(f"{name}: {result}")
            continue
        rows.append(result)
        records.append(GalleryPhoto(hashlib.sha256(data).hexdigest(), Path(name).name))
    dim = rows[0].shape[-1] if rows else 0
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32)), records, problems


def reserved_names(ckpt: Any) -> list[str]:
    """Names a gallery landmark may not take: the model's own classes and their display names."""
    return [*ckpt.classes, *(lm.name for lm in ckpt.landmarks)]


def add_landmark(
    model: Embedder, gallery_path: Path, landmark: Landmark, photos: Sequence[tuple[str, bytes]]
) -> tuple[Gallery, list[str]]:
    """Embed `photos` and store them as `landmark` in the gallery at `gallery_path` (written atomically).

    Returns the new gallery and the photos skipped as unreadable; GalleryError, with the file unchanged,
    when nothing readable is left or the addition breaks a rule (name or photo already there)."""
    open_gallery(gallery_path, model.fingerprint)  # a foreign or damaged file fails before the photos are embedded
    embeddings, records, problems = embed_photos(model, photos)
    if not records:
        detail = "; ".join(problems) if problems else "no photos given"
        raise GalleryError(f"no readable photo of {landmark.name!r}: {detail}")
    with changing(gallery_path):  # read again under the lock: another process may have added meanwhile
        gallery = open_gallery(gallery_path, model.fingerprint)
        grown = gallery.add(landmark, embeddings, records, reserved=reserved_names(model.checkpoint))
        grown.save(gallery_path)
        return grown, problems


def add_many(
    model: Embedder, gallery_path: Path, items: Sequence[tuple[Landmark, Sequence[Path]]]
) -> tuple[Gallery, list[str]]:
    """Several landmarks at once (`gallery import`): all are validated before the file is written once."""
    open_gallery(gallery_path, model.fingerprint)
    embedded, skipped = [], []
    for landmark, paths in items:
        embeddings, records, problems = embed_photos(model, [(str(p), read_photo(p)) for p in paths])
        if not records:
            raise GalleryError(f"no readable photo of {landmark.name!r}: {'; '.join(problems) or 'none given'}")
        embedded.append((landmark, embeddings, records))
        skipped += problems
    with changing(gallery_path):
        gallery = open_gallery(gallery_path, model.fingerprint)
        for landmark, embeddings, records in embedded:
            gallery = gallery.add(landmark, embeddings, records, reserved=reserved_names(model.checkpoint))
        gallery.save(gallery_path)
        return gallery, skipped


def remove_landmark(fingerprint: dict[str, Any], gallery_path: Path, name: str) -> Gallery:
    with changing(gallery_path):
        if not Path(gallery_path).exists():
            raise GalleryError(f"there is no gallery at {gallery_path}")
        smaller = open_gallery(gallery_path, fingerprint).remove(name)
        smaller.save(gallery_path)
        return smaller


_WHITENINGS: dict[int, tuple[weakref.ref[EmbeddingIndex], Whitening]] = {}


def whitening_of(index: EmbeddingIndex) -> Whitening:
    """The whitening learned from a model's training photos, once per loaded model and kept in the cache
    folder: it costs a randomised SVD, and a server rebuilds its prototypes at every gallery change."""
    cached = _WHITENINGS.get(id(index))
    if cached is not None and cached[0]() is index:
        return cached[1]
    whitening = cached_whitening(index.embeddings, cache_dir() / "whitening")
    _WHITENINGS[id(index)] = (weakref.ref(index, lambda _, key=id(index): _WHITENINGS.pop(key, None)), whitening)
    return whitening


class Known:
    """What a model and its gallery know together: the landmarks (the model's classes first) and one
    retrieval index over the training photos and the gallery's photos (gallery labels after the classes)."""

    def __init__(self, ckpt: Any, gallery: Gallery, gallery_id: str = "") -> None:
        if len(gallery) and ckpt.index is None:
            raise GalleryError(
                "this model has no retrieval index of its training photos (an older checkpoint), so its answers "
                "cannot be weighed against a gallery's; retrain it with `landmarks train` to use a gallery"
            )
        self.gallery = gallery
        self.gallery_id = gallery_id if len(gallery) else ""
        self.trained = len(ckpt.classes)
        self.landmarks: list[Landmark] = [*ckpt.landmarks, *gallery.landmarks]
        self.classes: list[str] = [*ckpt.classes, *(lm.folder for lm in gallery.landmarks)]
        parts = [p for p in (ckpt.index, gallery.index(self.trained) if len(gallery) else None) if p is not None]
        if len(parts) == 2 and parts[0].dim != parts[1].dim:
            raise GalleryError(f"the gallery's embeddings ({parts[1].dim}-d) do not fit the model's ({parts[0].dim}-d)")
        self.index = parts[0] if len(parts) == 1 else EmbeddingIndex.concat(parts) if parts else None
        self.prototypes = (
            Prototypes.cached(
                self.index, len(self.classes), self.trained, whitening_of(ckpt.index), cache_dir() / "prototypes"
            )
            if len(gallery) and self.index
            else None
        )
        for searched in (self.index, self.prototypes.index if self.prototypes else None):
            if searched is not None:  # a FAISS index built over a large gallery is kept for the next load
                searched.cache_folder = cache_dir() / "faiss"

    @property
    def gallery_classes(self) -> int:
        return len(self.gallery)
