"""`landmarks geotag undo DIR [--kind estimate]`: take back writes the library's journal records.

The index knows every write it made (`writes`) and what each proposal was, so an undo can pick:
everything applied, only estimates (issue 12's time-based locations), or given proposals. The
restore itself is `undo.undo_rows`, the same checks as `geotag --undo REPORT.csv` (a file whose
location is not the one written is left alone). Each restore is journaled before it is made
(action `undo`), so a killed undo is settled by the next run like any write, and a proposal moves to
`undone` only once its file is as it was.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from landmarks.data.decode import file_digest
from landmarks.errors import LibraryError
from landmarks.geotag.apply import ADDED_KEY
from landmarks.geotag.metadata import gps_from_tags
from landmarks.geotag.recover import recover_writes
from landmarks.geotag.report import Action, PhotoResult
from landmarks.geotag.undo import UNDONE, UndoAction, UndoResult, UndoSummary, refusal, undo_rows
from landmarks.library.db import LibraryDB
from landmarks.library.metadata import is_estimate
from landmarks.library.records import WriteRow, journal_write, note_location, settle_write, writes
from landmarks.library.schema import PROPOSAL_KINDS


def _applied_writes(db: LibraryDB, kind: str | None, proposal_ids: Sequence[int] | None) -> list[WriteRow]:
    rows = db.query(
        "SELECT w.id FROM writes w JOIN proposals r ON r.id = w.proposal_id"
        " WHERE w.action = 'write' AND w.status = 'written' AND r.status = 'applied'"
        " AND (? IS NULL OR r.kind = ?) ORDER BY w.id",
        (kind, kind),
    )
    wanted = {r[0] for r in rows}
    chosen = [w for w in writes(db, status="written") if w.id in wanted]
    if proposal_ids is not None:
        ids = set(proposal_ids)
        chosen = [w for w in chosen if w.proposal_id in ids]
    latest: dict[int, WriteRow] = {}
    for w in chosen:  # a proposal has one applied write; keep the last if a journal says otherwise
        if w.proposal_id is not None:
            latest[w.proposal_id] = w
    return list(latest.values())


def _row(db: LibraryDB, write: WriteRow) -> PhotoResult:
    photo = db.photo(write.photo_id)
    assert photo is not None
    gps = gps_from_tags(write.tags)
    return PhotoResult(
        file=db.abspath(photo), action=Action.WRITTEN, latitude=gps[0] if gps else None,
        longitude=gps[1] if gps else None, write="exif" if write.target == photo.path else "xmp",
        target=db.abspath(write.target), created=bool(write.created_target), previous=write.previous,
        added=write.tags.get(ADDED_KEY) or {},
    )  # fmt: skip


def undo_library(db: LibraryDB, *, kind: str | None = None, proposal_ids: Sequence[int] | None = None) -> UndoSummary:
    """Restore the files of the applied proposals (of `kind`, or these ids); their proposals -> undone."""
    if kind is not None and kind not in PROPOSAL_KINDS:
        raise LibraryError(f"kind must be one of {', '.join(PROPOSAL_KINDS)}, not {kind!r}")
    if not db.writable:
        raise LibraryError(f"the library index {db.path} was opened read-only: it cannot record an undo")
    recover_writes(db)
    chosen = _applied_writes(db, kind, proposal_ids)
    results: list[UndoResult] = []
    rows: list[tuple[WriteRow, PhotoResult]] = []
    for write in chosen:
        row = _row(db, write)
        if (reason := refusal(row)) is not None:  # a journal is data too: never restore foreign tags
            results.append(UndoResult(row.file, row.target or row.file, UndoAction.REFUSED, reason))
        else:
            rows.append((write, row))
    by_target = {os.path.abspath(r.target): w for w, r in rows if r.target is not None}
    journaled: dict[str, int] = {}

    def journal(jobs: list[tuple[PhotoResult, UndoResult, object]]) -> None:
        with db.transaction() as conn:
            for row, _, _ in jobs:
                write = by_target[os.path.abspath(row.target)]  # type: ignore[arg-type]
                photo = db.photo(write.photo_id)
                assert photo is not None
                journaled[write.target] = journal_write(
                    conn, photo, target=write.target, tags=write.previous, previous=write.tags,
                    created_target=bool(write.created_target), proposal_id=write.proposal_id, action="undo",
                )  # fmt: skip

    restored, removed = undo_rows([r for _, r in rows], before_write=journal)
    _settle(db, [w for w, _ in rows], restored, journaled)
    results += restored
    return UndoSummary(results, Counter(str(r.action) for r in results), removed)


def _settle(db: LibraryDB, chosen: list[WriteRow], restored: list[UndoResult], journaled: dict[str, int]) -> None:
    """Settle the journaled restores, and journal the undos that needed no write (sidecar removed,
    already as it was), so every proposal whose file is as it was becomes `undone`."""
    with db.transaction() as conn:
        for write, result in zip(chosen, restored, strict=True):
            undone = result.action in UNDONE
            write_id = journaled.get(write.target)
            if write_id is None:
                if not undone:
                    continue
                photo = db.photo(write.photo_id)
                assert photo is not None
                write_id = journal_write(
                    conn, photo, target=write.target, tags=write.previous, previous=write.tags,
                    created_target=bool(write.created_target), proposal_id=write.proposal_id, action="undo",
                )  # fmt: skip
            stamp = digest = None
            photo = db.photo(write.photo_id)
            target: Path = db.abspath(write.target)
            if undone and photo is not None and photo.path == write.target and target.exists():
                st = os.stat(target)
                stamp, digest = (st.st_size, st.st_mtime_ns), file_digest(target)
            settle_write(conn, write_id, ok=undone, detail=result.detail or str(result.action), stamp=stamp,
                         digest=digest)  # fmt: skip
            if undone:
                gps, in_photo = gps_from_tags(write.previous), bool(photo and photo.path == write.target)
                source = "estimate" if is_estimate(write.previous) else "exif" if in_photo else "xmp"
                note_location(conn, write.photo_id, gps, source=source, in_sidecar=bool(photo) and not in_photo)
