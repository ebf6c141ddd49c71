"""What a batch run reads: local folders, globs and file lists, or URIs of any pyarrow/fsspec filesystem.

Each photo is a `SourceFile` (a path or URI plus its size and modification time, read while listing):
the size and time are what a resumed run compares, so an unchanged photo is never read twice.
Bytes are read by `read_bytes`, in the decode tasks, so that listing a million photos reads none.
"""

from __future__ import annotations

import functools
import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landmarks.data.images import is_image_file

LIST_PREFIX = "@"
"""`@photos.txt`: a file list, one path or URI a line (blank lines and `#` comments ignored)."""


@dataclass(frozen=True)
class SourceFile:
    """One photo to recognise: where it is and what the listing said about it."""

    path: str
    """An absolute local path, or a URI (`s3://bucket/a.jpg`) for other filesystems."""
    size: int
    mtime_ns: int


def is_uri(item: str) -> bool:
    """`s3://...`, `gs://...`, `file:///...`; a Windows-like `C:\\` or a plain path is not a URI."""
    scheme, sep, _ = item.partition("://")
    return bool(sep) and scheme.isidentifier() and len(scheme) > 1


def list_sources(items: Iterable[str], recursive: bool = True) -> tuple[list[SourceFile], list[str]]:
    """(photos, problems) for what a user typed, in a stable order, duplicates dropped.

    Folders give their photo files (hidden ones left out; sub-folders with `recursive`), globs their
    matches, `@FILE` the paths it lists (each taken whatever its suffix: a bad one gets an error row),
    a URI its filesystem's listing. Symbolic links to folders are not followed while descending.
    """
    found: dict[str, SourceFile] = {}
    problems: list[str] = []
    for item in items:
        try:
            photos = _expand(item, recursive)
        except (OSError, ValueError, ImportError) as exc:
            problems.append(f"{item}: {exc}")
            continue
        if not photos:
            problems.append(f"{item}: no photos")
        for photo in photos:
            found.setdefault(photo.path, photo)
    return list(found.values()), problems


def _expand(item: str, recursive: bool) -> list[SourceFile]:
    if item.startswith(LIST_PREFIX):
        listed = Path(item[len(LIST_PREFIX) :]).expanduser()
        lines = listed.read_text(encoding="utf-8").splitlines()
        entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        return [photo for entry in entries for photo in _named(entry, relative_to=listed.parent)]
    if is_uri(item) and not item.startswith("file://"):
        return _remote(item, recursive)
    path = Path(item.removeprefix("file://")).expanduser()
    if path.is_dir():
        return _folder(path, recursive)
    if path.exists():
        return [_local(path)]
    if glob.has_magic(str(path)):
        matches = sorted(Path(m) for m in glob.glob(str(path), recursive=recursive))
        photos = [_local(m) for m in matches if m.is_file() and is_image_file(m)]
        for folder in (m for m in matches if m.is_dir()):
            photos.extend(_folder(folder, recursive))
        return photos
    raise FileNotFoundError("no such file or folder")


def _named(entry: str, relative_to: Path) -> list[SourceFile]:
    """One line of a file list: a URI, or a local path (relative ones from the list's folder)."""
    if is_uri(entry) and not entry.startswith("file://"):
        return _remote(entry, recursive=False)
    path = Path(entry.removeprefix("file://")).expanduser()
    path = path if path.is_absolute() else relative_to / path
    # Listed but absent: still a row (the error says so), so a file list's every line is answered.
    return [_local(path)]


def _local(path: Path) -> SourceFile:
    """A listed file; one that cannot even be stat'ed (a dangling link) still gets its error row."""
    try:
        stat = path.stat()
    except OSError:
        return SourceFile(str(path.absolute()), -1, -1)
    return SourceFile(str(path.absolute()), stat.st_size, stat.st_mtime_ns)


def _folder(folder: Path, recursive: bool) -> list[SourceFile]:
    photos: list[SourceFile] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if not name.startswith(".") and is_image_file(Path(name)):
                photos.append(_local(Path(root) / name))
    return photos


BUCKET_SCHEMES = ("s3", "gs", "gcs")
"""Object stores whose paths are `bucket/key`: one filesystem per bucket is made and kept (making one
resolves credentials, far too slow to repeat for every photo a decode task reads)."""


@functools.lru_cache(maxsize=16)
def _bucket_filesystem(scheme: str, bucket: str) -> Any:
    from pyarrow import fs as pafs

    return pafs.FileSystem.from_uri(f"{scheme}://{bucket}")[0]


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) for a URI: pyarrow's own filesystems first, then fsspec's."""
    from pyarrow import fs as pafs

    scheme, _, rest = uri.partition("://")
    if scheme in BUCKET_SCHEMES and rest:
        return _bucket_filesystem(scheme, rest.split("/", 1)[0]), rest.split("?", 1)[0]

    try:
        return pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError):  # pyarrow.ArrowInvalid is a ValueError: a scheme pyarrow lacks
        pass
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"no filesystem for {uri!r}: pyarrow has none and fsspec is not installed") from None
    protocol_fs, path = fsspec.core.url_to_fs(uri)
    return pafs.PyFileSystem(pafs.FSSpecHandler(protocol_fs)), path


def _remote(uri: str, recursive: bool) -> list[SourceFile]:
    from pyarrow import fs as pafs

    fs, path = filesystem(uri)
    scheme = uri.partition("://")[0]
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError("no such file or folder")
    if info.type == pafs.FileType.File:
        infos = [info]
    else:
        selector = pafs.FileSelector(path, recursive=recursive)
        infos = sorted(
            (i for i in fs.get_file_info(selector) if i.type == pafs.FileType.File and is_image_file(Path(i.path))),
            key=lambda i: i.path,
        )
    return [SourceFile(f"{scheme}://{i.path}", i.size or 0, i.mtime_ns or 0) for i in infos]


def read_bytes(path: str) -> bytes:
    """The whole file, from the local disk or the URI's filesystem (OSError when it cannot be read)."""
    if not is_uri(path) or path.startswith("file://"):
        return Path(path.removeprefix("file://")).read_bytes()
    fs, inner = filesystem(path)
    with fs.open_input_stream(inner) as stream:
        return stream.read()
