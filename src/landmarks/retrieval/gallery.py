"""A gallery: landmarks a user added from a few photos, stored as embeddings beside the model.

Why a file of its own (not a new checkpoint): adding a landmark must not retrain or rewrite the model,
and a gallery can grow to thousands of landmarks. It belongs to one model's backbone and preprocessing
(the embeddings mean nothing to another), so it records a fingerprint of them and refuses to load
under another model. Every change is validated first and written atomically: a refused addition or a
crash leaves the file as it was.

The file is a numpy `.npz` (read with `allow_pickle=False`): a JSON header, fp16 embeddings [N, D] and
the landmark of each row. numpy only, so it loads without torch.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landmarks.atomic import atomic_open
from landmarks.catalog import Landmark
from landmarks.errors import GalleryError
from landmarks.retrieval.index import EmbeddingIndex, normalise
from landmarks.settings import get_settings

GALLERY_FORMAT = "landmarks-gallery"
GALLERY_VERSION = 1
GALLERY_SUFFIX = ".gallery.npz"
GALLERY_PHOTO_PREFIX = "gallery:"
"""Retrieval ids of gallery photos: `gallery:<landmark folder>/<photo name>` (they are not training files)."""


def default_gallery_path(checkpoint: Path | str, gallery: Path | str | None = None) -> Path:
    """The gallery to use: the argument, LANDMARKS_GALLERY, else `<checkpoint stem>.gallery.npz` beside it."""
    if gallery:
        return Path(gallery)
    configured = get_settings().gallery
    if configured:
        return Path(configured)
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + GALLERY_SUFFIX)


def gallery_id_of(path: Path | str) -> str:
    """The gallery's identity where answers are recorded (library index, batch rows): a digest of its
    file, so answers made before a landmark was added or removed are told apart; empty with no gallery."""
    import hashlib

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise GalleryError(f"cannot read the gallery {path}: {exc.strerror or exc}") from None
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def slug(name: str) -> str:
    """A folder-like key for a landmark name (`Old Chapel, Ely` -> `old_chapel_ely`)."""
    return re.sub(r"[^0-9a-z]+", "_", name.casefold()).strip("_") or "landmark"


@dataclass(frozen=True)
class GalleryPhoto:
    digest: str
    """SHA-256 of the photo's bytes: the same photo is never added twice."""
    source: str
    """The photo's file name when it was added (shown as the neighbour's path)."""


@dataclass
class GalleryLandmark:
    landmark: Landmark
    photos: list[GalleryPhoto]


@dataclass
class Gallery:
    """The landmarks, their photos' embeddings (rows in landmark order) and the model they belong to."""

    fingerprint: dict[str, Any]
    entries: list[GalleryLandmark] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float16))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings, dtype=np.float16)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != sum(len(e.photos) for e in self.entries) or len(self.labels) != len(self.embeddings):
            raise GalleryError("the gallery's photos and embeddings disagree (a damaged gallery file)")

    @property
    def landmarks(self) -> list[Landmark]:
        return [e.landmark for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, name: str) -> int | None:
        key = slug(name)
        return next((i for i, e in enumerate(self.entries) if slug(e.landmark.name) == key), None)

    # ------------------------------------------------------------------ changes (validated, all or nothing)
    def add(
        self,
        landmark: Landmark,
        embeddings: np.ndarray,
        photos: Sequence[GalleryPhoto],
        reserved: Iterable[str] = (),
    ) -> Gallery:
        """A new gallery with `landmark` added from its photos' embeddings; `reserved` are names (or folders)
        the model already knows. Raises GalleryError (and changes nothing) for a bad addition."""
        if not landmark.name.strip():
            raise GalleryError("a gallery landmark needs a name")
        if not photos or len(embeddings) == 0:
            raise GalleryError(f"no readable photo of {landmark.name!r} to add")
        if len(photos) != len(embeddings):
            raise ValueError("one embedding per photo")
        key = slug(landmark.name)
        if self.find(landmark.name) is not None:
            raise GalleryError(f"the gallery already has a landmark named {landmark.name!r}; remove it first")
        if key in {slug(r) for r in reserved}:
            raise GalleryError(f"the model already knows a landmark named {landmark.name!r}; choose another name")
        known = {p.digest: e.landmark.name for e in self.entries for p in e.photos}
        seen: dict[str, str] = {}
        for photo in photos:
            if photo.digest in known:
                raise GalleryError(f"{photo.source} is already in the gallery (a photo of {known[photo.digest]!r})")
            if photo.digest in seen:
                raise GalleryError(f"{photo.source} and {seen[photo.digest]} are the same photo")
            seen[photo.digest] = photo.source
        emb = normalise(np.atleast_2d(embeddings))
        if len(self.embeddings) and emb.shape[1] != self.embeddings.shape[1]:
            raise GalleryError(f"embeddings of {emb.shape[1]} dimensions do not fit this gallery's {self.dim}")
        entry = GalleryLandmark(dataclasses.replace(landmark, folder=key, class_id=None), list(photos))
        rows = np.concatenate([self.embeddings.reshape(-1, emb.shape[1]), emb.astype(np.float16)])
        labels = np.concatenate([self.labels, np.full(len(emb), len(self.entries), np.int64)])
        return Gallery(dict(self.fingerprint), [*self.entries, entry], rows, labels)

    def remove(self, name: str) -> Gallery:
        """A new gallery without the landmark called `name`; GalleryError when there is none."""
        at = self.find(name)
        if at is None:
            names = ", ".join(e.landmark.name for e in self.entries) or "none"
            raise GalleryError(f"the gallery has no landmark named {name!r} (it has: {names})")
        keep = self.labels != at
        labels = self.labels[keep]
        labels = labels - (labels > at)
        entries = [e for i, e in enumerate(self.entries) if i != at]
        return Gallery(dict(self.fingerprint), entries, self.embeddings[keep], labels)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1]) if self.embeddings.ndim == 2 else 0

    def index(self, offset: int) -> EmbeddingIndex:
        """The gallery's rows as retrieval rows, their labels after the model's `offset` classes."""
        ids = [f"{GALLERY_PHOTO_PREFIX}{e.landmark.folder}/{p.source}" for e in self.entries for p in e.photos]
        return EmbeddingIndex(self.embeddings, self.labels + offset, ids, {"embedding": "gallery"})

    # ------------------------------------------------------------------ storage
    def save(self, path: Path | str) -> Path:
        """Write atomically: readers see the old gallery or the new one, never a mix."""
        header = {
            "format": GALLERY_FORMAT,
            "format_version": GALLERY_VERSION,
            "fingerprint": self.fingerprint,
            "landmarks": [
                {**e.landmark.to_dict(), "photos": [dataclasses.asdict(p) for p in e.photos]} for e in self.entries
            ],
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            embeddings=self.embeddings,
            labels=self.labels,
        )
        with atomic_open(path, "wb") as handle:
            handle.write(buffer.getvalue())
        return Path(path)


def check_fingerprint(found: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """GalleryError naming what differs when a gallery was made by another model."""
    differ = [k for k in sorted(set(found) | set(expected)) if found.get(k) != expected.get(k)]
    if differ:
        what = ", ".join(f"{k} {_short(found.get(k))} (this model: {_short(expected.get(k))})" for k in differ)
        raise GalleryError(
            f"{where} was made for another model: {what}. A gallery only works with the model it was made "
            "with; use --gallery FILE to pick another, or add the landmarks again under this model"
        )


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if isinstance(value, str) and len(text) == 64 else text


def load_gallery(path: Path | str, fingerprint: dict[str, Any]) -> Gallery:
    """Read a gallery file and check that it belongs to the model of `fingerprint`; GalleryError otherwise."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in ("header", "embeddings", "labels")}
    except FileNotFoundError:
        raise GalleryError(f"gallery {path} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GalleryError(f"{path} is not a readable gallery file (damaged or another tool's): {exc}") from None
    except KeyError:
        raise GalleryError(f"{path} is not a landmarks gallery file (another tool's archive?)") from None
    try:
        header = json.loads(raw["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GalleryError(f"{path} is a damaged gallery file (unreadable header: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != GALLERY_FORMAT:
        raise GalleryError(f"{path} is not a landmarks gallery file")
    if int(header.get("format_version", 0)) > GALLERY_VERSION:
        raise GalleryError(f"{path} was written by a newer landmarks (gallery format {header['format_version']})")
    check_fingerprint(dict(header.get("fingerprint") or {}), fingerprint, f"gallery {path}")
    try:
        entries = [
            GalleryLandmark(
                Landmark.from_dict({k: v for k, v in d.items() if k != "photos"}),
                [GalleryPhoto(str(p["digest"]), str(p["source"])) for p in d["photos"]],
            )
            for d in header["landmarks"]
        ]
        gallery = Gallery(dict(header["fingerprint"]), entries, raw["embeddings"], raw["labels"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GalleryError(f"{path} is a damaged gallery file (bad field: {exc})") from None
    if len(gallery.labels) and not (gallery.labels.min() >= 0 and gallery.labels.max() < len(entries)):
        raise GalleryError(f"{path} is a damaged gallery file (photos of landmarks it does not list)")
    if not np.isfinite(gallery.embeddings.astype(np.float32)).all():
        raise GalleryError(f"{path} is a damaged gallery file (non-finite embeddings)")
    return gallery


def open_gallery(path: Path | str, fingerprint: dict[str, Any]) -> Gallery:
    """The gallery at `path`, or an empty one for this model when there is no file yet."""
    return load_gallery(path, fingerprint) if Path(path).exists() else Gallery(dict(fingerprint))


def make_landmark(
    name: str,
    latitude: float,
    longitude: float,
    radius_km: float | None = None,
    city: str | None = None,
    country: str | None = None,
) -> Landmark:
    """A gallery landmark from user input; GalleryError (not ValueError) for a bad value."""
    name = name.strip()
    if not name:
        raise GalleryError("a gallery landmark needs a name")
    for label, value in (("latitude", latitude), ("longitude", longitude), ("radius", radius_km)):
        if value is not None and not math.isfinite(value):
            raise GalleryError(f"{label} {value} is not a number")
    try:
        return Landmark(slug(name), None, name, latitude, longitude, radius_km, city or None, country or None)
    except ValueError as exc:
        raise GalleryError(f"{name}: {exc}") from None
