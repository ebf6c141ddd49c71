"""The plan as a CSV people review in a spreadsheet: one proposal per line, an `accept` column to fill.

`accept` says yes (yes, y, true, 1, x, accept, accepted) or no (no, n, false, 0, reject, rejected);
left empty, the proposal stays undecided and is not written. A line is only honoured when it still
describes its proposal: the same photo (path and digest) and the same coordinates; a line edited
beyond the `accept` column, or a proposal replaced by a later plan, is refused with a reason, never
guessed at. Lines may be deleted or reordered; a byte-order mark and CRLF line ends are fine.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from landmarks.atomic import atomic_write_text
from landmarks.errors import LandmarksError
from landmarks.library.db import LibraryDB
from landmarks.library.records import ProposalRow, proposals, set_proposal_status

COLUMNS = (
    "proposal", "accept", "path", "kind", "landmark", "confidence", "latitude", "longitude", "radius_km",
    "city", "country", "anchor", "digest", "library",
)  # fmt: skip
YES = frozenset({"yes", "y", "true", "1", "x", "accept", "accepted"})
NO = frozenset({"no", "n", "false", "0", "reject", "rejected"})
_TOLERANCE_DEG = 1e-6


class PlanError(LandmarksError):
    """A file given as a plan that is not one."""


def write_plan(db: LibraryDB, path: Path, rows: Iterable[ProposalRow] | None = None) -> int:
    """The open proposals (or `rows`) as a plan CSV, atomically; returns how many lines."""
    rows = list(rows) if rows is not None else [p for p in proposals(db) if p.status in ("proposed", "accepted")]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for p in rows:
        photo, anchor = db.photo(p.photo_id), db.photo(p.anchor_photo_id) if p.anchor_photo_id else None
        assert photo is not None
        writer.writerow({
            "proposal": p.id, "accept": "yes" if p.status == "accepted" else "", "path": photo.path,
            "kind": p.kind, "landmark": p.landmark or "",
            "confidence": "" if p.confidence is None else f"{p.confidence:.4f}",
            "latitude": repr(p.latitude), "longitude": repr(p.longitude),
            "radius_km": "" if p.radius_km is None else repr(p.radius_km), "city": p.city or "",
            "country": p.country or "", "anchor": anchor.path if anchor else "", "digest": p.digest,
            "library": str(db.root),
        })  # fmt: skip
    try:
        atomic_write_text(path, buffer.getvalue())
    except OSError as exc:
        raise PlanError(f"cannot write the plan {path}: {exc.strerror or exc}") from exc
    return len(rows)


@dataclass(frozen=True)
class PlanLine:
    line: int
    proposal: int | None
    accept: bool | None
    """True: write it; False: reject it; None: undecided."""
    row: dict[str, str]


def read_plan(path: Path) -> list[PlanLine]:
    """The plan's lines; PlanError for a file that is not a plan (a bad `accept` value is an error too)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            names = [n.strip() for n in reader.fieldnames or []]
            missing = {"proposal", "accept", "path", "latitude", "longitude", "digest"} - set(names)
            if missing:
                raise PlanError(f"{path} is not a geotag plan (missing columns: {', '.join(sorted(missing))})")
            reader.fieldnames = names
            rows = list(reader)
    except FileNotFoundError as exc:
        raise PlanError(f"no such plan: {path}") from exc
    except (UnicodeDecodeError, csv.Error, IsADirectoryError) as exc:
        raise PlanError(f"{path} is not a readable geotag plan: {exc}") from exc
    lines = []
    for number, row in enumerate(rows, start=2):
        text = (row.get("accept") or "").strip().lower()
        if text and text not in YES | NO:
            raise PlanError(f"{path} line {number}: accept must be yes or no (or empty), not {row['accept']!r}")
        raw = (row.get("proposal") or "").strip()
        lines.append(PlanLine(number, int(raw) if raw.isdigit() else None, None if not text else text in YES, row))
    return lines


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _why_not(db: LibraryDB, line: PlanLine, proposal: ProposalRow | None) -> str | None:
    """Why a plan line does not describe its proposal any more (so it must not be honoured)."""
    if line.proposal is None or proposal is None:
        return "it names no proposal of this library"
    photo = db.photo(proposal.photo_id)
    assert photo is not None
    if line.row.get("path") != photo.path or line.row.get("digest") != proposal.digest:
        return "its photo is not the proposal's (plan again)"
    lat, lon = _float(line.row.get("latitude")), _float(line.row.get("longitude"))
    if (
        lat is None
        or lon is None
        or not all(
            math.isclose(a, b, abs_tol=_TOLERANCE_DEG) for a, b in ((lat, proposal.latitude), (lon, proposal.longitude))
        )
    ):
        return "its coordinates were edited (only the accept column may be changed)"
    return None


@dataclass
class PlanDecisions:
    accepted: list[int]
    rejected: list[int]
    undecided: int
    refused: list[tuple[int, str]]
    """(line, reason) for each line that was not honoured."""


def decide_from_plan(db: LibraryDB, lines: list[PlanLine]) -> PlanDecisions:
    """Record the plan's yes / no in the index (proposal statuses); returns what it decided."""
    by_id = {p.id: p for p in proposals(db)}
    out = PlanDecisions([], [], 0, [])
    for line in lines:
        if line.accept is None:
            out.undecided += 1
            continue
        proposal = by_id.get(line.proposal) if line.proposal is not None else None
        if (why := _why_not(db, line, proposal)) is not None:
            out.refused.append((line.line, why))
            continue
        assert proposal is not None
        if proposal.status not in ("proposed", "accepted", "rejected"):
            out.refused.append((line.line, f"the proposal is {proposal.status} already"))
            continue
        (out.accepted if line.accept else out.rejected).append(proposal.id)
    if out.accepted:
        set_proposal_status(db, out.accepted, "accepted")
    if out.rejected:
        set_proposal_status(db, out.rejected, "rejected")
    return out
