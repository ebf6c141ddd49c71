"""`scan_library`: bring the index up to date with the folder, reading only what changed.

A photo whose (size, mtime_ns) and sidecar stamp are what the index holds is not opened at all, so
a rescan costs one `stat` per photo. New and changed photos are hashed (SHA-256, the dataset cache's
digest) and their metadata read in batches through one exiftool process; each batch is committed on
its own, so an interrupted scan keeps what it did and the next one carries on. A file that vanished
is marked missing (its history stays); one that reappears under another name with the same content
is a rename and keeps its row, so its predictions, proposals and writes follow it.

Symlinks are never followed (neither files nor folders): nothing outside the root, no loops, and
no photo indexed twice under two names. Hidden files and folders are skipped.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from landmarks.data.decode import file_digest
from landmarks.data.images import IMAGE_EXTENSIONS
from landmarks.errors import LibraryError
from landmarks.library.db import LibraryDB, now
from landmarks.library.metadata import MetadataReader, PhotoMeta, parse_entry

BATCH_SIZE = 200
"""Files per exiftool call (and per committed transaction)."""

_META_COLUMNS = tuple(f.name for f in fields(PhotoMeta))
_SIDECAR_SUFFIX = ".xmp"


@dataclass(frozen=True)
class Found:
    """A photo file the walk found, with its stamp and its XMP sidecar's, if any."""

    path: str
    size: int
    mtime_ns: int
    sidecar: str | None = None
    sidecar_size: int | None = None
    sidecar_mtime_ns: int | None = None

    @property
    def sidecar_stamp(self) -> tuple[str | None, int | None, int | None]:
        return self.sidecar, self.sidecar_size, self.sidecar_mtime_ns


@dataclass
class ScanSummary:
    """What one scan found and did; `timings` in seconds (walk, hash, read, db, total)."""

    root: Path
    db_path: Path
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    renamed: int = 0
    unreadable: int = 0
    skipped: int = 0
    """Files left out of the index: names it cannot hold, files that changed while being read."""
    symlinks: int = 0
    hashed: int = 0
    exiftool_calls: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def present(self) -> int:
        return self.new + self.changed + self.unchanged + self.renamed + self.unreadable

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["root"], out["db_path"] = str(self.root), str(self.db_path)
        return out


# -- the walk ------------------------------------------------------------------------------------


def _storable(rel: str) -> str | None:
    """Why a path cannot go into the index (SQLite text is UTF-8; exiftool reads names per line)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    if "\n" in rel or "\r" in rel:
        return "file names with line breaks are not supported"
    return None


def walk(root: Path, recursive: bool, summary: ScanSummary) -> Iterator[Found]:
    """Every photo file under `root` (not following symlinks), with its sidecar."""
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            summary.problems.append((_rel(root, folder) or ".", f"cannot list the folder: {exc.strerror}"))
            continue
        sidecars = {e.name.lower(): e for e in entries if e.name.lower().endswith(_SIDECAR_SUFFIX)}
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                summary.symlinks += 1
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                summary.problems.append((_rel(root, Path(entry.path)), exc.strerror or str(exc)))
                continue
            if stat.S_ISDIR(st.st_mode):
                if recursive:
                    pending.append(Path(entry.path))
                continue
            if not stat.S_ISREG(st.st_mode) or os.path.splitext(entry.name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            rel = _rel(root, Path(entry.path))
            if (why := _storable(rel)) is not None:
                summary.skipped += 1
                summary.problems.append((rel.encode("utf-8", "replace").decode(), why))
                continue
            yield Found(rel, st.st_size, st.st_mtime_ns, *_sidecar(root, entry.name, sidecars))


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else ""


def _sidecar(root: Path, name: str, sidecars: dict[str, os.DirEntry[str]]) -> tuple[str | None, int | None, int | None]:
    """`photo.jpg.xmp` (darktable, digiKam) first, then `photo.xmp` (Lightroom)."""
    for candidate in (name.lower() + _SIDECAR_SUFFIX, os.path.splitext(name)[0].lower() + _SIDECAR_SUFFIX):
        entry = sidecars.get(candidate)
        if entry is None or entry.is_symlink():
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and _storable(entry.name) is None:
            return _rel(root, Path(entry.path)), st.st_size, st.st_mtime_ns
    return None, None, None


# -- the scan ------------------------------------------------------------------------------------


@dataclass
class _Todo:
    found: Found
    known: dict[str, Any] | None
    rehash: bool
    digest: str | None = None
    error: str | None = None
    meta: PhotoMeta | None = None


def scan_library(
    root: Path | str,
    db: LibraryDB,
    *,
    recursive: bool = True,
    progress: bool = True,
    batch_size: int = BATCH_SIZE,
    reader: MetadataReader | None = None,
) -> ScanSummary:
    """Walk `root` and bring `db` (opened writable on this library) up to date; see the module doc."""
    started, t0 = now(), time.perf_counter()
    root = Path(root).resolve()
    if root != db.root:
        raise LibraryError(f"the library index {db.path} is for {db.root}, not {root}")
    summary = ScanSummary(root=root, db_path=db.path)
    timings = {"walk": 0.0, "hash": 0.0, "read": 0.0, "db": 0.0}
    found = list(walk(root, recursive, summary))
    known = {r["path"]: dict(r) for r in db.query(
        "SELECT id, path, size, mtime_ns, digest, status, sidecar, sidecar_size, sidecar_mtime_ns FROM photos"
    )}  # fmt: skip
    timings["walk"] = time.perf_counter() - t0

    todo: list[_Todo] = []
    returned: list[int] = []
    for f in found:
        k = known.get(f.path)
        if k is None:
            todo.append(_Todo(f, None, rehash=True))
        elif (k["size"], k["mtime_ns"]) != (f.size, f.mtime_ns):
            todo.append(_Todo(f, k, rehash=True))
        elif (k["sidecar"], k["sidecar_size"], k["sidecar_mtime_ns"]) != f.sidecar_stamp:
            todo.append(_Todo(f, k, rehash=False, digest=k["digest"]))
        else:
            summary.unchanged += 1
            if k["status"] == "missing":
                returned.append(k["id"])
    seen = {f.path for f in found}
    # without recursion the sub-folders were not looked at: their photos are not gone
    gone = {k["id"]: k for path, k in known.items() if path not in seen and (recursive or "/" not in path)}
    gone_by_digest: dict[str, list[int]] = {}
    for k in gone.values():
        if k["digest"]:
            gone_by_digest.setdefault(k["digest"], []).append(k["id"])

    if returned:
        with db.transaction() as conn:
            conn.executemany("UPDATE photos SET status = 'present', missing_since = NULL WHERE id = ?",
                             [(i,) for i in returned])  # fmt: skip

    own_reader = reader is None
    if reader is None and todo:
        reader = MetadataReader()
    bar = _bar(len(todo), progress)
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            t = time.perf_counter()
            _hash(db.root, batch, summary)
            timings["hash"] += time.perf_counter() - t
            t = time.perf_counter()
            _read(db.root, batch, reader, summary)
            timings["read"] += time.perf_counter() - t
            t = time.perf_counter()
            _store(db, batch, gone, gone_by_digest, summary)
            timings["db"] += time.perf_counter() - t
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
        if own_reader and reader is not None:
            reader.close()

    t = time.perf_counter()
    vanished = [(now(), i) for i, k in gone.items() if k["status"] != "missing"]
    with db.transaction() as conn:
        conn.executemany("UPDATE photos SET status = 'missing', missing_since = ? WHERE id = ?", vanished)
        summary.missing = len(vanished)
        timings["total"] = time.perf_counter() - t0
        conn.execute(
            "INSERT INTO scans (started, finished, recursive, new, changed, unchanged, missing, renamed, unreadable,"
            " seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (started, now(), int(recursive), summary.new, summary.changed, summary.unchanged, summary.missing,
             summary.renamed, summary.unreadable, timings["total"]),
        )  # fmt: skip
    timings["db"] += time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    summary.timings = {k: round(v, 3) for k, v in timings.items()}
    return summary


def _bar(total: int, progress: bool) -> Any:
    if not progress or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc="scan", disable=None, leave=False)


def _hash(root: Path, batch: list[_Todo], summary: ScanSummary) -> None:
    for item in batch:
        if not item.rehash:
            continue
        try:
            item.digest = file_digest(root / item.found.path)
            summary.hashed += 1
        except OSError as exc:
            item.error = f"cannot read the file: {exc.strerror or exc}"


def _needs_read(item: _Todo) -> bool:
    """Metadata lives in the file's bytes and the sidecar: same digest, same sidecar, same metadata."""
    if item.error is not None:
        return False
    k = item.known
    if k is None or k["digest"] != item.digest:
        return True
    return (k["sidecar"], k["sidecar_size"], k["sidecar_mtime_ns"]) != item.found.sidecar_stamp


def _read(root: Path, batch: list[_Todo], reader: MetadataReader | None, summary: ScanSummary) -> None:
    wanted = [item for item in batch if _needs_read(item)]
    if not wanted or reader is None:
        return
    paths = [root / item.found.path for item in wanted]
    sidecars = [root / item.found.sidecar for item in wanted if item.found.sidecar]
    entries = reader.read(paths + sidecars)
    summary.exiftool_calls += 1
    by_sidecar = dict(zip((item.found.sidecar for item in wanted if item.found.sidecar), entries[len(paths) :],
                          strict=True))  # fmt: skip
    for item, entry in zip(wanted, entries[: len(paths)], strict=True):
        item.meta = parse_entry(entry, by_sidecar.get(item.found.sidecar) if item.found.sidecar else None)


def _unchanged_since_walk(root: Path, f: Found) -> bool:
    try:
        st = os.stat(root / f.path, follow_symlinks=False)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (f.size, f.mtime_ns)


def _store(
    db: LibraryDB,
    batch: list[_Todo],
    gone: dict[int, dict[str, Any]],
    gone_by_digest: dict[str, list[int]],
    summary: ScanSummary,
) -> None:
    stamp = now()
    with db.transaction() as conn:
        for item in batch:
            f = item.found
            if item.rehash and not _unchanged_since_walk(db.root, f):
                summary.skipped += 1
                summary.problems.append((f.path, "the file changed while it was scanned; the next scan reads it"))
                continue
            values: dict[str, Any] = {
                "path": f.path, "size": f.size, "mtime_ns": f.mtime_ns, "digest": item.digest,
                "sidecar": f.sidecar, "sidecar_size": f.sidecar_size, "sidecar_mtime_ns": f.sidecar_mtime_ns,
                "missing_since": None,
            }  # fmt: skip
            error = item.error or (item.meta.error if item.meta else None)
            if item.meta is None and error is None:  # touched (new mtime), same bytes and sidecar
                summary.unchanged += 1
                if item.known and item.known["status"] == "missing":
                    values["status"] = "present"
            else:
                values.update({c: getattr(item.meta or PhotoMeta(), c) for c in _META_COLUMNS})
                values.update(status="unreadable" if error else "present", error=error, changed_at=stamp)
            target = item.known["id"] if item.known else None
            if target is None and item.digest and gone_by_digest.get(item.digest):
                target = gone_by_digest[item.digest].pop(0)
                gone.pop(target)
                summary.renamed += 1
            elif error:
                summary.unreadable += 1
                summary.problems.append((f.path, error))
            elif item.known is None:
                summary.new += 1
            elif item.meta is not None:
                summary.changed += 1
            if target is None:
                values["first_seen"] = stamp
                columns = ", ".join(values)
                conn.execute(f"INSERT INTO photos ({columns}) VALUES ({', '.join('?' * len(values))})",
                             tuple(values.values()))  # fmt: skip
            else:
                sets = ", ".join(f"{c} = ?" for c in values)
                conn.execute(f"UPDATE photos SET {sets} WHERE id = ?", (*values.values(), target))
