"""Settle the writes a killed run left journaled as `writing`: did each one land or not?

A write is journaled before it is made and settled after; a run killed in between leaves the index
unsure. The file itself answers: it holds the coordinates the write was to put there (it landed:
settle it as written, with the file's new stamp and digest, so nothing is written twice) or not (it
never happened: settle it as failed, and the proposal, still `accepted`, is written by the next run).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from landmarks.data.decode import file_digest
from landmarks.geotag.lock import folder_locks
from landmarks.geotag.metadata import ExifToolSession, gps_from_tags
from landmarks.library.db import LibraryDB
from landmarks.library.records import WriteRow, settle_write, writes

_TOLERANCE_DEG = 1e-6


def close(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Same place (to what EXIF rationals and XMP text keep), or both none."""
    if a is None or b is None:
        return a is b
    return all(math.isclose(x, y, abs_tol=_TOLERANCE_DEG) for x, y in zip(a, b, strict=True))


def _landed(db: LibraryDB, write: WriteRow, session: ExifToolSession) -> tuple[bool, str]:
    target = db.abspath(write.target)
    expected = gps_from_tags(write.tags)
    if not target.exists():
        # a created sidecar that was never linked, or an undo that removed the sidecar we made
        return (write.action == "undo" and write.created_target), "the file is not there"
    info = session.inspect([target])[0]
    if info.error is not None:
        return False, info.error
    return close(info.gps, expected), ""


def recover_writes(db: LibraryDB) -> int:
    """Settle every `writing` row of the journal from what its file holds; returns how many.

    `db` is open writable (the library lock: no other run of ours is writing in this library); the
    folders are locked too while their files are looked at.
    """
    unsettled = writes(db, status="writing")
    if not unsettled:
        return 0
    with folder_locks(db.abspath(w.target).parent for w in unsettled), ExifToolSession() as session:
        return _settle_all(db, unsettled, session)


def _settle_all(db: LibraryDB, unsettled: list[WriteRow], session: ExifToolSession) -> int:
    settled: list[tuple[int, bool, str, tuple[int, int] | None, str | None]] = []
    for write in unsettled:
        landed, why = _landed(db, write, session)
        stamp = digest = None
        photo = db.photo(write.photo_id)
        target: Path = db.abspath(write.target)
        if landed and photo is not None and photo.path == write.target and target.exists():
            st = os.stat(target)
            stamp, digest = (st.st_size, st.st_mtime_ns), file_digest(target)
        detail = "settled after an interrupted run" if landed else f"interrupted before it was written {why}".strip()
        settled.append((write.id, landed, detail, stamp, digest))
    with db.transaction() as conn:
        for write_id, landed, detail, stamp, digest in settled:
            settle_write(conn, write_id, ok=landed, detail=detail, stamp=stamp, digest=digest)
    return len(settled)
