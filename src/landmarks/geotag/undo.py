"""`geotag --undo REPORT.csv`: take back exactly what a geotag run wrote.

For each photo the report says was written (or was about to be, if the run was killed), the tags a
geotag write replaces are cleared and the values recorded before the write are put back, through
the same atomic exiftool write. A sidecar the run created is removed if it holds nothing else. A
file whose location is no longer the one we wrote has been changed since, and is left alone.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from landmarks.geotag.metadata import (
    EXIF_CLEARED,
    SIDECAR_CLEARED,
    ExifToolSession,
    WriteJob,
    read_only_reason,
)
from landmarks.geotag.report import Action, PhotoResult, read_report

_TOLERANCE_DEG = 1e-6  # far below what GPS rationals / XMP minutes lose, far above a different place


class UndoAction(StrEnum):
    RESTORED = "restored"
    REMOVED = "removed sidecar"
    NOTHING = "skipped: location changed since"
    MISSING = "skipped: missing"
    READ_ONLY = "skipped: read-only"
    FAILED = "failed"


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

    @property
    def ok(self) -> bool:
        """False when there was something to undo and none of it could be."""
        return not self.results or any(r.action is not UndoAction.FAILED for r in self.results)


def _ours(row: PhotoResult, gps: tuple[float, float] | None) -> bool:
    if gps is None or row.latitude is None or row.longitude is None:
        return False
    return math.isclose(gps[0], row.latitude, abs_tol=_TOLERANCE_DEG) and math.isclose(
        gps[1], row.longitude, abs_tol=_TOLERANCE_DEG
    )


def _only_our_tags(names: set[str]) -> bool:
    return all(n == "XMP-x:XMPToolkit" or n.startswith(("XMP-exif:GPS", "XMP-iptcExt:LocationShown")) for n in names)


def undo(report: Path) -> UndoSummary:
    """Restore every file the run behind `report` wrote."""
    rows = [r for r in read_report(report) if r.action in (Action.WRITTEN, Action.WRITING) and r.target is not None]
    results: list[UndoResult] = []
    jobs: list[tuple[UndoResult, WriteJob]] = []
    with ExifToolSession() as session:
        infos = session.inspect([r.target for r in rows if r.target is not None])
        for row, info in zip(rows, infos, strict=True):
            assert row.target is not None
            result = UndoResult(row.file, row.target, UndoAction.FAILED)
            results.append(result)
            if not row.target.exists():
                result.action = UndoAction.MISSING
            elif info.error is not None:
                result.detail = info.error
            elif not _ours(row, info.gps):
                result.action = UndoAction.NOTHING
                result.detail = "its location is not the one the run wrote"
            elif (reason := read_only_reason(row.target, exists=True)) is not None:
                result.action, result.detail = UndoAction.READ_ONLY, reason
            elif row.created and _only_our_tags(session.xmp_tag_names(row.target)):
                try:
                    os.remove(row.target)
                    result.action = UndoAction.REMOVED
                except OSError as exc:
                    result.detail = f"could not remove: {exc.strerror or exc}"
            else:
                clear = SIDECAR_CLEARED if row.write == "xmp" else EXIF_CLEARED
                jobs.append((result, WriteJob(row.target, row.previous, clear, False, (info.size, info.mtime_ns))))
        errors = session.write([job for _, job in jobs])
    for (result, _), error in zip(jobs, errors, strict=True):
        result.action = UndoAction.RESTORED if error is None else UndoAction.FAILED
        result.detail = error or ""
    return UndoSummary(results, Counter(str(r.action) for r in results))
