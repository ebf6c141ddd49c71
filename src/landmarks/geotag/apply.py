"""Write accepted proposals into the photos: the one place where the library's plans touch files.

`apply_proposals` is what `landmarks geotag` (after planning), `landmarks geotag apply` and the review
page call. Each proposal is checked against the file first: a photo that is gone (deleted, renamed)
or whose bytes are not the ones proposed for (SHA-256 digest) is skipped with a reason, never
written. Every write goes through the atomic exiftool writer and is journaled twice before it is
made: in the index (`writes`, status `writing`) and, when asked, in a CSV report that `geotag --undo`
reads. Proposals of kind `estimate` are written the same way, with their radius as
GPSHPositioningError and an `estimate` GPSProcessingMethod (in EXIF and the photo's XMP, or the
sidecar), which a later scan reads back; `undo_library(kind="estimate")` takes them back alone.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from landmarks.data.decode import file_digest
from landmarks.errors import LibraryError
from landmarks.geotag.lock import folder_locks
from landmarks.geotag.metadata import (
    EXIF_CLEARED,
    SIDECAR_CLEARED,
    WRITABLE_TYPES,
    ExifToolSession,
    FileMetadata,
    Location,
    SidecarName,
    WriteJob,
    WriteMode,
    read_only_reason,
    remove_temporaries,
    sidecar_path,
)
from landmarks.geotag.places import IPTC_TYPES, add_places
from landmarks.geotag.recover import recover_writes
from landmarks.geotag.report import Action, PhotoResult, ReportJournal
from landmarks.library.db import LibraryDB, PhotoRow
from landmarks.library.metadata import ESTIMATE_METHOD
from landmarks.library.records import (
    ProposalRow,
    journal_write,
    note_location,
    proposals,
    set_proposal_status,
    settle_write,
)

ADDED_KEY = "landmarks:added"
"""In a journaled write's `tags`: the keywords and place names it added (undo takes out only those)."""


class ApplyAction(StrEnum):
    WRITTEN = "written"
    NOT_ACCEPTED = "skipped: not accepted"
    MISSING = "skipped: missing"
    CHANGED = "skipped: changed since the plan"
    HAS_GPS = "skipped: has GPS"
    READ_ONLY = "skipped: read-only"
    UNREADABLE = "skipped: unreadable"
    UNSUPPORTED = "skipped: unsupported format"
    FAILED = "failed"


@dataclass
class ApplyItem:
    """What became of one proposal."""

    proposal_id: int
    photo_id: int
    path: str
    """The photo, relative to the library root."""
    kind: str
    action: ApplyAction
    detail: str = ""
    write_id: int | None = None
    """Its row in the index's write journal, when a write was attempted."""


@dataclass
class ApplyResult:
    items: list[ApplyItem]
    report: Path | None = None
    counts: Counter[str] = field(default_factory=Counter)
    recovered: int = 0
    """Writes an interrupted run had left unsettled, settled first (see `recover_writes`)."""
    temporaries_removed: list[Path] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.counts.get(ApplyAction.WRITTEN, 0)


@dataclass
class _Pending:
    item: ApplyItem
    proposal: ProposalRow
    photo: PhotoRow
    result: PhotoResult
    stamp: tuple[int, int] | None = None
    """(size, mtime_ns) of the bytes whose digest was checked: the file must still have it when written."""


def _selected(db: LibraryDB, proposal_ids: Sequence[int] | None, accepted_only: bool) -> list[ProposalRow]:
    if proposal_ids is None:
        return proposals(db, status="accepted")
    wanted = list(dict.fromkeys(proposal_ids))
    by_id = {p.id: p for p in proposals(db) if p.id in set(wanted)}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise LibraryError(f"no proposal {missing[0]} in the library index {db.path}")
    if not accepted_only:
        opened = [i for i in wanted if by_id[i].status == "proposed"]
        if opened:
            set_proposal_status(db, opened, "accepted")
            by_id.update({p.id: p for p in proposals(db) if p.id in set(opened)})
    return [by_id[i] for i in wanted]


def apply_proposals(
    db: LibraryDB,
    *,
    proposal_ids: Sequence[int] | None = None,
    accepted_only: bool = True,
    write: WriteMode = WriteMode.EXIF,
    sidecar_name: SidecarName = SidecarName.APPEND,
    overwrite_gps: bool = False,
    tags: bool | None = None,
    report: Path | None = None,
    chunk_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Write the accepted proposals (or `proposal_ids`) into their photos; one `ApplyItem` each.

    `proposal_ids=None`: every accepted proposal. With ids and `accepted_only=False`, proposals still
    `proposed` are accepted first; otherwise a proposal that is not `accepted` is skipped. `tags`
    (default: on for XMP sidecars) also adds keywords and place names (`places`). `db` must
    be open writable (it holds the library lock). A write that succeeds moves its proposal to
    `applied`; undo moves it to `undone`.
    """
    if not db.writable:
        raise LibraryError(f"the library index {db.path} was opened read-only: it cannot record writes")
    with_tags = write is WriteMode.XMP if tags is None else tags
    advance = progress or (lambda n: None)
    recovered = recover_writes(db)  # first: a write a killed run made must not be made again
    chosen = _selected(db, proposal_ids, accepted_only)
    items: list[ApplyItem] = []
    pending: list[_Pending] = []
    for proposal in chosen:
        photo = db.photo(proposal.photo_id)
        assert photo is not None  # proposals cascade with their photo
        item = ApplyItem(proposal.id, photo.id, photo.path, proposal.kind, ApplyAction.WRITTEN)
        items.append(item)
        if proposal.status != "accepted":
            item.action, item.detail = ApplyAction.NOT_ACCEPTED, f"the proposal is {proposal.status}"
            continue
        result = PhotoResult(file=db.abspath(photo), write=str(write), landmark=proposal.landmark,
                             confidence=proposal.confidence, latitude=proposal.latitude,
                             longitude=proposal.longitude, radius_km=proposal.radius_km, city=proposal.city,
                             country=proposal.country)  # fmt: skip
        pending.append(_Pending(item, proposal, photo, result))
    skipped = len(items) - len(pending)
    advance(skipped)
    if not pending:  # nothing to write: no exiftool, no report
        return ApplyResult(items, None, Counter(str(i.action) for i in items), recovered)

    folders = {p.result.file.parent for p in pending}
    journal = ReportJournal(report) if report is not None and pending else None
    removed: list[Path] = []
    try:
        with folder_locks(folders) as locked, ExifToolSession() as session:
            removed = remove_temporaries(locked)
            for start in range(0, len(pending), chunk_size):
                chunk = pending[start : start + chunk_size]
                _apply_chunk(db, chunk, session, (write, sidecar_name, with_tags, overwrite_gps), journal)
                advance(len(chunk))
    finally:
        if journal is not None:
            journal.finish([p.result for p in pending])
    counts = Counter(str(i.action) for i in items)
    return ApplyResult(items, report if journal is not None else None, counts, recovered, removed)


def _check_file(p: _Pending) -> bool:
    """The photo must still be the one proposed for: there, and the same bytes (digest)."""
    path = p.result.file
    if p.photo.status == "missing" or not path.is_file():
        p.item.action = ApplyAction.MISSING
        p.item.detail = "the photo is gone (deleted or renamed since the plan): scan and plan again"
        return False
    try:
        before = os.stat(path)
        digest = file_digest(path)
        after = os.stat(path)
    except OSError as exc:
        p.item.action, p.item.detail = ApplyAction.UNREADABLE, f"cannot read the photo: {exc.strerror or exc}"
        return False
    p.stamp = (after.st_size, after.st_mtime_ns)
    if digest != p.proposal.digest or p.stamp != (before.st_size, before.st_mtime_ns):
        p.item.action = ApplyAction.CHANGED
        p.item.detail = "the photo's content is not the one proposed for (replaced or edited): plan again"
        return False
    return True


def _settle(p: _Pending, info: FileMetadata, sidecar: FileMetadata | None, write: WriteMode, overwrite: bool) -> bool:
    """Whether the photo may be written now; sets the item's reason when not."""
    item, result = p.item, p.result
    if info.error is not None:
        item.action, item.detail = ApplyAction.UNREADABLE, info.error
        return False
    if info.stamp != p.stamp:  # changed between the digest check and now: never write what was not checked
        item.action, item.detail = ApplyAction.CHANGED, "the photo changed while it was being checked"
        return False
    if write is WriteMode.EXIF and info.file_type not in WRITABLE_TYPES:
        item.action = ApplyAction.UNSUPPORTED
        item.detail = f"cannot write GPS into {info.file_type or 'unknown'} files (try --write xmp)"
        return False
    if sidecar is not None and sidecar.error is not None:
        item.action, item.detail = ApplyAction.UNREADABLE, f"sidecar: {sidecar.error}"
        return False
    gps = info.gps or (sidecar.gps if sidecar is not None else None)
    if gps is not None and not overwrite:
        item.action, item.detail = ApplyAction.HAS_GPS, "the photo has a location now (--overwrite-gps to replace it)"
        return False
    assert result.target is not None
    if (reason := read_only_reason(result.target, exists=result.target.exists())) is not None:
        item.action, item.detail = ApplyAction.READ_ONLY, reason
        return False
    return True


def _location(proposal: ProposalRow) -> Location:
    estimate = proposal.kind == "estimate"
    return Location(
        proposal.landmark or "", proposal.latitude, proposal.longitude, proposal.radius_km, proposal.city,
        proposal.country, method=ESTIMATE_METHOD if estimate else None, shown=not estimate and bool(proposal.landmark),
    )  # fmt: skip


def _job(p: _Pending, info: FileMetadata, sidecar: FileMetadata | None, write: WriteMode, with_tags: bool) -> WriteJob:
    location, result, proposal = _location(p.proposal), p.result, p.proposal
    assert result.target is not None
    if write is WriteMode.XMP:
        result.created = sidecar is None
        current = sidecar.location_tags if sidecar is not None else {}
        places = sidecar.place_tags if sidecar is not None else {}
        tags, clear = location.sidecar_tags(), SIDECAR_CLEARED
        stamp = None if sidecar is None else sidecar.stamp
    else:
        current, places, tags, clear, stamp = (
            info.location_tags,
            info.place_tags,
            location.exif_tags(),
            EXIF_CLEARED,
            info.stamp,
        )
    result.previous = dict(current)
    tags = _keep_their_locations(tags, current)
    if with_tags and proposal.kind == "landmark" and proposal.landmark:
        iptc = write is WriteMode.EXIF and info.file_type in IPTC_TYPES
        extra, result.added = add_places(places, proposal.landmark, proposal.city, proposal.country, iptc=iptc)
        tags.update(extra)
    return WriteJob(result.target, tags, clear, result.created, stamp)


def _keep_their_locations(tags: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Our LocationShown entry (if any) goes after the ones already there (cleared and rewritten whole)."""
    key = "XMP-iptcExt:LocationShown"
    theirs = current.get(key) or []
    theirs = theirs if isinstance(theirs, list) else [theirs]
    ours = tags.get(key) or []
    return {**tags, key: [entry for entry in theirs if entry not in ours] + ours}


def _apply_chunk(
    db: LibraryDB,
    chunk: list[_Pending],
    session: ExifToolSession,
    how: tuple[WriteMode, SidecarName, bool, bool],
    journal: ReportJournal | None,
) -> None:
    write, sidecar_name, with_tags, overwrite = how
    live = [p for p in chunk if _check_file(p)]
    for p in live:
        p.result.target = sidecar_path(p.result.file, sidecar_name) if write is WriteMode.XMP else p.result.file
    infos = session.inspect([p.result.file for p in live]) if live else []
    sidecars: list[FileMetadata | None] = [None] * len(live)
    if write is WriteMode.XMP:
        existing = [i for i, p in enumerate(live) if p.result.target is not None and p.result.target.exists()]
        for i, info in zip(existing, session.inspect([live[i].result.target for i in existing]), strict=True):  # type: ignore[misc]
            sidecars[i] = info
    todo: list[tuple[_Pending, WriteJob]] = []
    for p, info, sidecar in zip(live, infos, sidecars, strict=True):
        if _settle(p, info, sidecar, write, overwrite):
            todo.append((p, _job(p, info, sidecar, write, with_tags)))
    if not todo:
        return
    with db.transaction() as conn:  # journaled before any file is touched
        for p, job in todo:
            recorded = {**job.tags, ADDED_KEY: p.result.added} if p.result.added else job.tags
            p.item.write_id = journal_write(
                conn, p.photo, target=_rel(db, job.target), tags=recorded, previous=p.result.previous,
                created_target=job.create, proposal_id=p.proposal.id,
            )  # fmt: skip
            p.result.action = Action.WRITING
    if journal is not None:
        journal.append([p.result for p, _ in todo])
    errors = session.write([job for _, job in todo])
    settled: list[tuple[_Pending, str | None, tuple[int, int] | None, str | None]] = []
    for (p, job), error in zip(todo, errors, strict=True):
        stamp = digest = None
        if error is None and write is WriteMode.EXIF:
            st = os.stat(job.target)
            stamp, digest = (st.st_size, st.st_mtime_ns), file_digest(job.target)
        settled.append((p, error, stamp, digest))
    with db.transaction() as conn:
        for p, error, stamp, digest in settled:
            assert p.item.write_id is not None
            settle_write(conn, p.item.write_id, ok=error is None, detail=error, stamp=stamp, digest=digest)
            if error is None:
                radius, where = p.proposal.radius_km, (p.proposal.latitude, p.proposal.longitude)
                error_m = None if radius is None else radius * 1000
                source = "estimate" if p.proposal.kind == "estimate" else str(write)  # as a scan would read it
                note_location(
                    conn, p.photo.id, where, source=source, error_m=error_m, in_sidecar=write is WriteMode.XMP
                )
            p.result.action = Action.WRITTEN if error is None else Action.FAILED
            p.result.detail = error or ""
            if error is not None:
                p.item.action, p.item.detail = ApplyAction.FAILED, error


def _rel(db: LibraryDB, target: Path) -> str:
    return Path(os.path.relpath(os.path.abspath(target), db.root)).as_posix()
