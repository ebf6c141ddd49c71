"""Results into a library index (`--out library:DB`, or a path ending in .sqlite / .db), so that the
geotag steps that read the index's predictions can write locations from a batch run.

The index must exist (`landmarks library scan ROOT --db DB`): it knows the library's root and its
photos, and a batch run only adds predictions, never photos. A photo outside the root, or one the
index has not seen, is reported and not processed. Resuming is the index's own rule
(`needs_prediction`): a photo is skipped when it has a prediction by this model and gallery for its
current content; a photo whose size or time changed since the scan is processed again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from landmarks.batch.sources import SourceFile, is_uri
from landmarks.errors import LibraryError
from landmarks.library.db import LibraryDB, open_library, sql_errors
from landmarks.library.records import needs_prediction, record_prediction

PREFIX = "library:"
SUFFIXES = (".sqlite", ".sqlite3", ".db")


def library_target(out: str) -> Path | None:
    """The index `--out` names, or None when it names a Parquet results folder."""
    if out.startswith(PREFIX):
        return Path(out[len(PREFIX) :]).expanduser()
    if not is_uri(out) and Path(out).suffix.lower() in SUFFIXES:
        return Path(out).expanduser()
    return None


def _root_of(db_path: Path) -> Path:
    if not db_path.is_file():
        raise LibraryError(
            f"no library index at {db_path}: make it first with `landmarks library scan ROOT --db {db_path}`"
        )
    with sql_errors(db_path):
        conn = sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM library WHERE key = 'root'").fetchone()
        except sqlite3.OperationalError:
            row = None
        finally:
            conn.close()
    if row is None:
        raise LibraryError(f"{db_path} is not a landmarks library index")
    return Path(row[0])


class LibraryResults:
    """A library index opened (and locked) for one batch run."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.root = _root_of(db_path)
        self.written = 0
        self.errors = 0
        self.problems: list[str] = []
        self._db: LibraryDB | None = None
        self._ids: dict[str, int] = {}

    def __enter__(self) -> LibraryResults:
        self._db = open_library(self.root, self.db_path)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> LibraryDB:
        assert self._db is not None, "use LibraryResults as a context manager"
        return self._db

    def pending(self, photos: Iterable[SourceFile], model_id: str, gallery_id: str) -> list[SourceFile]:
        todo_ids = {p.id for p in needs_prediction(self.db, model_id, gallery_id)}
        todo = []
        for photo in photos:
            path = Path(photo.path) if is_uri(photo.path) else Path(photo.path).resolve()
            if is_uri(photo.path) or not path.is_relative_to(self.root):
                self.problems.append(f"{photo.path}: outside the library {self.root}")
                continue
            row = self.db.photo_by_path(path.relative_to(self.root).as_posix())
            if row is None or row.status != "present":
                scan = f"landmarks library scan {self.root} --db {self.db_path}"
                self.problems.append(f"{photo.path}: not in the library index (run `{scan}`)")
                continue
            self._ids[photo.path] = row.id
            if row.id in todo_ids or (row.size, row.mtime_ns) != (photo.size, photo.mtime_ns):
                todo.append(photo)
        return todo

    def write(self, table: pa.Table) -> None:
        """Record each row as the prediction for the content it was made from (its digest)."""
        for row in table.to_pylist():
            photo_id = self._ids[row["path"]]
            try:
                record_prediction(
                    self.db,
                    photo_id,
                    model_id=row["model_id"],
                    gallery_id=row["gallery_id"],
                    decision=row["decision"],
                    landmark=row["landmark"],
                    score=row["score"],
                    threshold=row["threshold"],
                    top_k=row["top_k"],
                    error=row["error"],
                    digest=row["digest"],
                )
            except LibraryError as exc:  # an unreadable photo the index has no digest for
                self.problems.append(str(exc))
                continue
            self.written += 1
            self.errors += row["decision"] == "error"
