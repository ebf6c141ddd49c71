"""`geotag --undo REPORT.csv`: take back exactly what a geotag run wrote, and nothing else.

For each photo the report says was written (or was about to be, if the run was killed), the tags a
geotag write replaces are cleared and the values recorded before the write are put back, through
the same atomic exiftool write. A sidecar the run created is removed if it holds nothing else. A
file whose location is no longer the one we wrote has been changed since, and is left alone.

A report is a file anyone can edit, so a line is only acted on when it describes a geotag write:
its target is the photo or the photo's sidecar, and the values it would restore are all in the
tag groups a geotag write clears (never, say, EXIF:Artist or IFD0:Orientation). A damaged report
still restores every good line; each bad or refused one is named, and the undo then fails.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from landmarks.geotag.lock import folder_locks
from landmarks.geotag.metadata import (
    EXIF_CLEARED,
    SIDECAR_CLEARED,
    ExifToolSession,
    FileMetadata,
    SidecarName,
    WriteJob,
    gps_from_tags,
    read_only_reason,
    remove_temporaries,
    sidecar_path,
)
from landmarks.geotag.places import LIST_TAGS, PLACE_TAGS, check_added, remove_places
from landmarks.geotag.report import Action, PhotoResult, read_report_lines

_TOLERANCE_DEG = 1e-6  # far below what GPS rationals / XMP minutes lose, far above a different place

#: The tags a geotag write clears, by write mode, as `group:name` prefixes: all an undo may restore.
_RESTORABLE = {
    "exif": ("GPS:", "XMP-exif:GPS", "XMP-iptcExt:LocationShown"),
    "xmp": ("XMP-exif:GPS", "XMP-iptcExt:LocationShown"),
}
_WRITES = (Action.WRITTEN, Action.WRITING)


class UndoAction(StrEnum):
    RESTORED = "restored"
    REMOVED = "removed sidecar"
    ALREADY = "skipped: already undone"
    NOT_WRITTEN = "skipped: not written"
    """The run was stopped before this photo's write: it is as it was."""
    CHANGED = "skipped: location changed since"
    MISSING = "skipped: missing"
    READ_ONLY = "skipped: read-only"
    BAD_LINE = "failed: bad report line"
    REFUSED = "refused: not a geotag write"
    FAILED = "failed"


#: Outcomes after which the file is as it was before the run.
UNDONE = frozenset({UndoAction.RESTORED, UndoAction.REMOVED, UndoAction.ALREADY, UndoAction.NOT_WRITTEN})


@dataclass
class UndoResult:
    file: Path
    target: Path
    action: UndoAction
    detail: str = ""


@dataclass
class UndoSummary:
    results: list[UndoResult]
    counts: Counter[str] = field(default_factory=Counter)
    temporaries_removed: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file the report names is as it was before the run."""
        return all(r.action in UNDONE for r in self.results)


def _close(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(math.isclose(x, y, abs_tol=_TOLERANCE_DEG) for x, y in zip(a, b, strict=True))


def _ours(row: PhotoResult, gps: tuple[float, float] | None) -> bool:
    if row.latitude is None or row.longitude is None:
        return False
    return gps is not None and _close(gps, (row.latitude, row.longitude))


def _only_our_tags(names: set[str]) -> bool:
    ours = ("XMP-exif:GPS", "XMP-iptcExt:LocationShown", *(t for t in PLACE_TAGS if t.startswith("XMP-")))
    return all(n == "XMP-x:XMPToolkit" or n.startswith(ours) for n in names)


def refusal(row: PhotoResult) -> str | None:
    """Why a report line does not describe a geotag write (so undo must not act on it), or None."""
    if row.write not in _RESTORABLE:
        return f"unknown write mode {row.write!r}"
    assert row.target is not None
    target, photo = Path(os.path.abspath(row.target)), Path(os.path.abspath(row.file))
    allowed = [photo] if row.write == "exif" else [sidecar_path(photo, naming) for naming in SidecarName]
    if target not in allowed:
        return f"its target {row.target} is not the photo or its sidecar"
    if not isinstance(row.previous, dict):
        return "its previous values are not a set of tags"
    foreign = sorted(k for k in row.previous if not str(k).startswith(_RESTORABLE[row.write]))
    if foreign:
        return f"it would write {', '.join(foreign)}, which geotag never changes"
    if (why := check_added(row.added)) is not None:
        return why
    if row.created and row.previous:
        return "it records previous values for a sidecar it says was created"
    return None


def _settle(row: PhotoResult, info: FileMetadata, session: ExifToolSession) -> tuple[UndoAction, str, bool]:
    """(action, detail, needs a restore write) for one good line."""
    assert row.target is not None
    previous_gps: Any = gps_from_tags(row.previous)
    if not row.target.exists():
        if row.created:  # the sidecar we created is gone: removed by an undo, or never linked
            return (UndoAction.ALREADY if row.action is Action.WRITTEN else UndoAction.NOT_WRITTEN), "", False
        return UndoAction.MISSING, "", False
    if info.error is not None:
        return UndoAction.FAILED, info.error, False
    if not _ours(row, info.gps):
        if _close(info.gps, previous_gps):
            if row.action is Action.WRITING:
                return UndoAction.NOT_WRITTEN, "the run was stopped before this photo was written", False
            return UndoAction.ALREADY, "", False
        return UndoAction.CHANGED, "its location is not the one the run wrote", False
    if (reason := read_only_reason(row.target, exists=True)) is not None:
        return UndoAction.READ_ONLY, reason, False
    left_of_theirs, _ = remove_places(info.place_tags, row.added)
    keywords_of_theirs = any(left_of_theirs.get(k) for k in LIST_TAGS)
    if row.created and not keywords_of_theirs and _only_our_tags(session.xmp_tag_names(row.target)):
        try:
            os.remove(row.target)
        except OSError as exc:
            return UndoAction.FAILED, f"could not remove: {exc.strerror or exc}", False
        return UndoAction.REMOVED, "", False
    return UndoAction.RESTORED, "", True


def undo(report: Path) -> UndoSummary:
    """Restore every file the run behind `report` wrote; name each line that could not be."""
    lines, bad = read_report_lines(report)
    results: list[UndoResult] = []
    for line in bad:
        if line.action in {str(a) for a in Action} - {str(a) for a in _WRITES}:
            continue  # a damaged line of a photo that was never written: nothing to take back
        name = Path(line.file) if line.file else Path(f"<line {line.line}>")
        results.append(UndoResult(name, name, UndoAction.BAD_LINE, f"line {line.line}: {line.reason}"))
    rows: list[PhotoResult] = []
    for row in lines:
        if row.action not in _WRITES:
            continue
        if row.target is None:
            results.append(UndoResult(row.file, row.file, UndoAction.REFUSED, "it names no target"))
        elif (reason := refusal(row)) is not None:
            results.append(UndoResult(row.file, row.target, UndoAction.REFUSED, reason))
        else:
            rows.append(row)

    restored, removed = undo_rows(rows)
    return UndoSummary(results + restored, Counter(str(r.action) for r in results + restored), removed)


BeforeWrite = Callable[[list[tuple[PhotoResult, UndoResult, WriteJob]]], None]


def undo_rows(rows: list[PhotoResult], before_write: BeforeWrite | None = None) -> tuple[list[UndoResult], list[Path]]:
    """Restore the files of these (checked: `refusal` is None) lines; one result per line, in order.

    `before_write` sees the restore writes about to be made (the library journals them first).
    Also returns the temporaries of killed runs removed from the folders on the way.
    """
    results: list[UndoResult] = []
    jobs: list[tuple[PhotoResult, UndoResult, WriteJob]] = []
    removed: list[Path] = []
    with folder_locks(r.target.parent for r in rows if r.target is not None) as folders:
        removed = remove_temporaries(folders)
        with ExifToolSession() as session:
            infos = session.inspect([r.target for r in rows if r.target is not None])
            for row, info in zip(rows, infos, strict=True):
                assert row.target is not None
                action, detail, write = _settle(row, info, session)
                result = UndoResult(row.file, row.target, action, detail)
                results.append(result)
                if write:
                    clear = SIDECAR_CLEARED if row.write == "xmp" else EXIF_CLEARED
                    tags, clear_places = remove_places(info.place_tags, row.added)
                    restore = {k: v for k, v in row.previous.items() if k not in PLACE_TAGS}
                    job = WriteJob(row.target, {**restore, **tags}, clear + clear_places, False, info.stamp)
                    jobs.append((row, result, job))
            if before_write is not None and jobs:
                before_write(jobs)
            errors = session.write([job for _, _, job in jobs])
    for (_, result, _), error in zip(jobs, errors, strict=True):
        result.action = UndoAction.RESTORED if error is None else UndoAction.FAILED
        result.detail = error or ""
    return results, removed
