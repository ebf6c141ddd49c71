"""The per-photo record of a geotag run: the CSV report (also the undo journal) and the GeoJSON map.

The CSV is appended to while the run goes on, and each photo about to be written is logged *before*
the write (action `writing`, with the tag values it replaces). So even a run that is killed leaves a
report that `geotag --undo` can use; at the end the report is rewritten in input order with the
final actions.
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from landmarks.atomic import atomic_open, atomic_write_text
from landmarks.errors import LandmarksError


class Action(StrEnum):
    """What happened to one photo (the report's `action` column)."""

    WRITTEN = "written"
    WOULD_WRITE = "would write"
    """--dry-run: a confident prediction that a real run would have written."""
    WRITING = "writing"
    """Journal only: logged before the write, replaced by `written` or `failed` when it is done."""
    HAS_GPS = "skipped: has GPS"
    LOW_CONFIDENCE = "skipped: low confidence"
    NO_COORDINATES = "skipped: no coordinates"
    READ_ONLY = "skipped: read-only"
    UNREADABLE = "skipped: unreadable"
    UNSUPPORTED = "skipped: unsupported format"
    FAILED = "failed"


#: Outcomes where nothing could be done with a photo (the run fails when every photo ends so).
FAILURES = frozenset({Action.UNREADABLE, Action.UNSUPPORTED, Action.FAILED})

COLUMNS = (
    "file",
    "action",
    "landmark",
    "confidence",
    "decision",
    "latitude",
    "longitude",
    "radius_km",
    "city",
    "country",
    "write",
    "target",
    "created",
    "previous",
    "added",
    "detail",
)
OPTIONAL_COLUMNS = frozenset({"decision", "added"})
"""Columns a report written by an older version lacks; reading it still works."""
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c not in OPTIONAL_COLUMNS)


_NAMES = "surrogateescape"  # file names that are not UTF-8 go into the CSV as their raw bytes


class ReportError(LandmarksError):
    """A file given to --undo that is not a geotag report."""


@dataclass
class PhotoResult:
    """One photo's line in the report."""

    file: Path
    action: Action | None = None
    landmark: str | None = None
    confidence: float | None = None
    decision: str | None = None
    """Which score `confidence` is (the model's unknown decision: fused, max_softmax or knn)."""
    latitude: float | None = None
    """The coordinates the photo has (skipped: has GPS) or gets (written, would write)."""
    longitude: float | None = None
    radius_km: float | None = None
    city: str | None = None
    country: str | None = None
    write: str = "exif"
    """Where the location goes: `exif` (into the photo) or `xmp` (a sidecar)."""
    target: Path | None = None
    """The file that is written: the photo itself or its sidecar."""
    created: bool = False
    """The target did not exist before (a new sidecar): undo removes it."""
    previous: dict[str, Any] = field(default_factory=dict)
    """The replaced tags' values before the write (exiftool JSON): undo puts them back."""
    added: dict[str, Any] = field(default_factory=dict)
    """Keywords and place names the write added (`places`): undo takes exactly these out again."""
    detail: str = ""

    def to_row(self) -> dict[str, str]:
        return {
            "file": str(self.file),
            "action": str(self.action or ""),
            "landmark": self.landmark or "",
            "confidence": "" if self.confidence is None else f"{self.confidence:.4f}",
            "decision": self.decision or "",
            "latitude": _num(self.latitude),
            "longitude": _num(self.longitude),
            "radius_km": _num(self.radius_km),
            "city": self.city or "",
            "country": self.country or "",
            "write": self.write,
            "target": "" if self.target is None else str(self.target),
            "created": "true" if self.created else "false",
            "previous": json.dumps(self.previous, ensure_ascii=False, sort_keys=True) if self.previous else "",
            "added": json.dumps(self.added, ensure_ascii=False, sort_keys=True) if self.added else "",
            "detail": self.detail,
        }

    @classmethod
    def from_row(cls, row: dict[str, str]) -> PhotoResult:
        """One CSV line back; ReportError naming what is wrong with it (cut short, bad value)."""
        if None in row:
            raise ReportError(f"bad report line for {row.get('file')!r}: more fields than columns")
        if any(row.get(column) is None for column in REQUIRED_COLUMNS):
            raise ReportError(f"bad report line for {row.get('file')!r}: the line is cut short")
        try:
            action = Action(row["action"]) if row["action"] else None
            return cls(
                file=Path(row["file"]),
                action=action,
                landmark=row["landmark"] or None,
                confidence=_opt_float(row["confidence"]),
                decision=row.get("decision") or None,
                latitude=_opt_float(row["latitude"]),
                longitude=_opt_float(row["longitude"]),
                radius_km=_opt_float(row["radius_km"]),
                city=row["city"] or None,
                country=row["country"] or None,
                write=row["write"] or "exif",
                target=Path(row["target"]) if row["target"] else None,
                created=row["created"].strip().lower() == "true",  # spreadsheets write TRUE
                previous=json.loads(row["previous"]) if row["previous"] else {},
                added=json.loads(row["added"]) if row.get("added") else {},
                detail=row["detail"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ReportError(f"bad report line for {row.get('file')!r}: {exc}") from exc


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _opt_float(text: str) -> float | None:
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text}")
    return value


def check_report_path(path: Path) -> None:
    """An existing file is replaced only if it is a report with nothing to undo: a report of written
    photos is what `--undo` needs, and any other file is not ours to replace."""
    if not path.exists():
        return
    try:
        rows = read_report(path)
    except ReportError:
        raise ReportError(f"{path} exists and is not a geotag report: choose another --report") from None
    written = sum(r.action in (Action.WRITTEN, Action.WRITING) for r in rows)
    if written:
        raise ReportError(f"{path} records {written} written photos that --undo needs: choose another --report")


class ReportJournal:
    """The CSV report, appended to (and flushed to disk) as photos are decided."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_report_path(path)
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: TextIO | None = open(path, "w", newline="", encoding="utf-8", errors=_NAMES)  # noqa: SIM115
        except OSError as exc:
            raise ReportError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._sync()

    def _sync(self) -> None:
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, results: Iterable[PhotoResult]) -> None:
        with self._lock:
            if self._fh is None:
                return
            for result in results:
                self._writer.writerow(result.to_row())
            self._sync()

    def finish(self, results: Iterable[PhotoResult]) -> None:
        """Replace the journal with the final report, in input order (atomically)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            write_report(self.path, results)


def write_report(path: Path, results: Iterable[PhotoResult]) -> None:
    """Write the CSV report atomically (a unique temporary, then rename)."""
    with atomic_open(path, "w", newline="", encoding="utf-8", errors=_NAMES) as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for result in results:
            if result.action is not None:
                writer.writerow(result.to_row())


@dataclass(frozen=True)
class BadLine:
    """A report line that could not be read back: which, and why."""

    line: int
    file: str
    action: str
    reason: str


def _physical_lines(text: str) -> list[str]:
    lines = [line + "\n" for line in text.split("\n")]
    if lines and lines[-1] == "\n":
        lines.pop()
    return lines


def _record(lines: list[str], start: int) -> tuple[list[str] | None, int, str]:
    """(fields or None, lines used, why not) for the CSV record that starts at `lines[start]`."""
    reader = csv.reader(iter(lines[start:]))
    try:
        return next(reader), max(reader.line_num, 1), ""
    except csv.Error as exc:
        return None, max(reader.line_num, 1), f"unreadable CSV ({exc})"
    except StopIteration:
        return [], 1, ""


def _row(names: list[str], fields: list[str]) -> PhotoResult:
    row: dict[Any, Any] = dict(zip(names, fields, strict=False))
    if len(fields) > len(names):
        row[None] = fields[len(names) :]
    return PhotoResult.from_row(row)


def read_report_lines(path: Path) -> tuple[list[PhotoResult], list[BadLine]]:
    """Every good line of a report, and each bad one named (a report cut short, or hand-edited).

    Accepts what a spreadsheet saves: a byte-order mark, CRLF line ends, TRUE for true. Raises
    ReportError only for a file that is not a geotag report at all. A quote cut off inside a field
    makes a CSV reader swallow the lines after it into that field; a record that spans lines and is
    bad is therefore reported on its first line alone, and reading goes on from the next line.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig", errors=_NAMES) as fh:
            lines = _physical_lines(fh.read())
    except FileNotFoundError as exc:
        raise ReportError(f"no such report: {path}") from exc
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise ReportError(f"{path} is not a readable geotag report: {exc}") from exc
    header, used, _ = _record(lines, 0) if lines else ([], 1, "")
    names = [name.strip() for name in header or []]
    missing = set(REQUIRED_COLUMNS) - set(names)
    if missing:
        raise ReportError(f"{path} is not a geotag report (missing columns: {', '.join(sorted(missing))})")
    rows: list[PhotoResult] = []
    bad: list[BadLine] = []
    i = used
    while i < len(lines):
        fields, used, reason = _record(lines, i)
        if fields == []:
            i += used  # a blank line
            continue
        if fields is not None:
            try:
                rows.append(_row(names, fields))
                i += used
                continue
            except ReportError as exc:
                reason = str(exc).split(": ", 1)[-1]
        seen = dict(zip(names, fields or [], strict=False))
        bad.append(BadLine(i + 1, seen.get("file", ""), seen.get("action", ""), reason))
        i += 1
    return rows, bad


def read_report(path: Path) -> list[PhotoResult]:
    """The lines of a report written by `geotag` (raises ReportError for anything else, or a bad line)."""
    rows, bad = read_report_lines(path)
    if bad:
        raise ReportError(f"{path}: bad report line {bad[0].line} ({bad[0].file!r}): {bad[0].reason}")
    return rows


def write_geojson(path: Path, results: Iterable[PhotoResult]) -> int:
    """The photos that have or get a location, as a GeoJSON FeatureCollection of points.

    Returns the number of points written.
    """
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r.longitude, r.latitude]},
            "properties": {
                "file": str(r.file),
                "landmark": r.landmark,
                "confidence": None if r.confidence is None else round(r.confidence, 4),
                "action": str(r.action),
            },
        }
        for r in results
        if r.action is not None and r.latitude is not None and r.longitude is not None
    ]
    try:
        # ASCII with \u escapes: valid for every reader, even for file names that are not UTF-8
        atomic_write_text(path, json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
    except OSError as exc:
        raise ReportError(f"cannot write the map {path}: {exc.strerror or exc}") from exc
    return len(features)


def check_writable(path: Path) -> None:
    """Fail before any photo is touched if an output file could not be written at the end."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if path.is_dir() or not os.access(path.parent, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write {path}: {'a folder' if path.is_dir() else 'permission denied'}")
