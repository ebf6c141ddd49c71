"""Results as a Parquet dataset (a folder of part files), written so that no reader sees half a file.

- The local engine writes each part beside its final name and renames it (`landmarks.atomic`).
- Ray's writer writes into `_staging/<run>/` (pyarrow and Ray readers skip `_`-prefixed folders);
  the run moves the parts in when it ends. A run killed half-way leaves its finished parts there: the
  next run moves in those whose footer reads back and deletes the rest (`salvage`).
- One run at a time per folder: an exclusive flock on `_landmarks-batch.lock`, dropped by the kernel
  when the run dies, so a killed run never blocks the next one.
- Resuming reads only the key columns of the existing parts; duplicates (there should be none) are
  dropped by `read_results`, which keeps one row per (path, digest, model, gallery).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from landmarks.atomic import atomic_open
from landmarks.batch.schema import RESUME_KEY, ROW_SCHEMA
from landmarks.batch.sources import SourceFile
from landmarks.errors import LandmarksError

STAGING = "_staging"
LOCK = "_landmarks-batch.lock"
DEDUPE_KEY = ("path", "digest", "model_id", "gallery_id")


def part_files(folder: Path) -> list[Path]:
    """The committed part files of a results folder (hidden and `_` names are not results)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if p.is_file() and not p.name.startswith((".", "_")))


def read_results(folder: Path | str, dedupe: bool = True) -> pa.Table:
    """Every row of a results folder, one per (path, digest, model, gallery) with `dedupe`."""
    parts = part_files(Path(folder))
    tables = [pq.read_table(p, schema=ROW_SCHEMA) for p in parts]
    table = pa.concat_tables(tables) if tables else ROW_SCHEMA.empty_table()
    if not dedupe or table.num_rows == 0:
        return table
    keys = table.select(list(DEDUPE_KEY)).to_pylist()
    seen: set[tuple[object, ...]] = set()
    keep = []
    for i, key in enumerate(keys):
        k = tuple(key.values())
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return table.take(pa.array(keep, pa.int64()))


class ParquetResults:
    """A results folder opened for one run: locked, salvaged, and able to say which photos are done."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.run_id = uuid.uuid4().hex[:12]
        self.written = 0
        self.errors = 0
        self._parts = 0
        self._lock_fd: int | None = None

    def __enter__(self) -> ParquetResults:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LandmarksError(f"cannot write results into {self.folder}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LandmarksError(f"{self.folder} is in use by another `landmarks batch` run") from None
        self._lock_fd = fd
        self.salvage()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- resuming ------------------------------------------------------------------------------------
    def salvage(self) -> int:
        """Move in the complete parts earlier runs left in staging; delete broken ones. Returns parts kept."""
        kept = 0
        for run in sorted((self.folder / STAGING).glob("*")):
            kept += self._commit_folder(run)
        for stale in self.folder.glob(".*.tmp"):  # an atomic write killed before its rename
            stale.unlink(missing_ok=True)
        return kept

    def done(self, model_id: str, gallery_id: str) -> set[tuple[str, int, int]]:
        """(path, size, mtime_ns) of the photos this model and gallery already answered."""
        done: set[tuple[str, int, int]] = set()
        for part in part_files(self.folder):
            table = pq.read_table(part, columns=list(RESUME_KEY))
            mask = pc.and_(pc.equal(table["model_id"], model_id), pc.equal(table["gallery_id"], gallery_id))
            for row in table.filter(mask).select(["path", "size", "mtime_ns"]).to_pylist():
                done.add((row["path"], row["size"], row["mtime_ns"]))
        return done

    def pending(self, photos: Iterable[SourceFile], model_id: str, gallery_id: str) -> list[SourceFile]:
        done = self.done(model_id, gallery_id)
        return [p for p in photos if (p.path, p.size, p.mtime_ns) not in done]

    # -- writing -------------------------------------------------------------------------------------
    def write(self, table: pa.Table) -> None:
        """One part file, atomically (the local engine's writer)."""
        if table.num_rows == 0:
            return
        target = self.folder / f"part-{self.run_id}-{self._parts:06d}.parquet"
        with atomic_open(target, "wb") as handle:
            pq.write_table(table.cast(ROW_SCHEMA), handle)
        self._parts += 1
        self._count(table)

    @property
    def staging(self) -> Path:
        """Where Ray's writer puts this run's parts until `commit`."""
        return self.folder / STAGING / self.run_id

    def commit(self) -> int:
        """Move this run's staged parts in (after Ray's writer has finished); returns how many."""
        return self._commit_folder(self.staging, count=True)

    def _commit_folder(self, run: Path, count: bool = False) -> int:
        kept = 0
        for part in sorted(run.rglob("*.parquet")) if run.is_dir() else []:
            try:
                rows = pq.read_table(part, schema=ROW_SCHEMA) if count else None
                if rows is None:
                    pq.read_metadata(part)  # a part cut short by a kill has no footer
            except (OSError, pa.ArrowException):
                part.unlink(missing_ok=True)
                continue
            os.replace(part, self.folder / f"{run.name}-{part.name}")
            kept += 1
            if rows is not None:
                self._count(rows)
        if run.is_dir():
            shutil.rmtree(run, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.folder / STAGING).rmdir()
        return kept

    def _count(self, table: pa.Table) -> None:
        self.written += table.num_rows
        self.errors += pc.sum(pc.equal(table["decision"], "error")).as_py() or 0
