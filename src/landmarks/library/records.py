"""What runs record about photos: predictions, proposals (planned locations) and writes (the journal).

- A prediction is valid for one model (checkpoint digest), one gallery and one photo *content*
  (its digest): `needs_prediction` is what an incremental run must process.
- A proposal is a location planned for a photo, from a recognised `landmark` or an `estimate` made
  from anchor photos (issue 12); it moves proposed -> accepted / rejected -> applied -> undone.
  A photo has at most one open (proposed or accepted) proposal: planning again replaces it.
- A write is journaled *before* it happens (`begin_write`, status `writing`) and settled after
  (`finish_write`), so after a kill the index tells exactly which files may hold our tags, which is
  what undo needs. Our own metadata writes change a photo's bytes but not its pixels, so a finished
  write carries the photo's predictions over to its new digest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from landmarks.errors import LibraryError
from landmarks.library.db import LibraryDB, PhotoRow, now, photo_from_row
from landmarks.library.schema import DECISIONS, PROPOSAL_KINDS, PROPOSAL_STATUSES, WRITE_ACTIONS

TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"proposed", "rejected", "applied"}),
    "rejected": frozenset({"proposed", "accepted"}),
    "applied": frozenset({"undone"}),
    "undone": frozenset(),
}
"""Which status a proposal may move to from each status."""


def needs_prediction(db: LibraryDB, model_id: str, gallery_id: str = "") -> list[PhotoRow]:
    """Present photos with no prediction by this model and gallery for their current content."""
    rows = db.query(
        "SELECT p.* FROM photos p WHERE p.status = 'present' AND NOT EXISTS ("
        " SELECT 1 FROM predictions r WHERE r.photo_id = p.id AND r.model_id = ? AND r.gallery_id = ?"
        " AND r.digest = p.digest) ORDER BY p.path",
        (model_id, gallery_id),
    )
    return [photo_from_row(r) for r in rows]


def _photo(db: LibraryDB, photo_id: int) -> PhotoRow:
    photo = db.photo(photo_id)
    if photo is None:
        raise LibraryError(f"no photo {photo_id} in the library index {db.path}")
    return photo


def record_prediction(
    db: LibraryDB,
    photo_id: int,
    *,
    model_id: str,
    gallery_id: str = "",
    decision: str,
    landmark: str | None = None,
    score: float | None = None,
    threshold: float | None = None,
    top_k: Sequence[dict[str, Any]] = (),
    error: str | None = None,
    digest: str | None = None,
) -> int:
    """Store (or replace) a photo's prediction for its current digest (or `digest`); returns its id."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
    digest = digest or _photo(db, photo_id).digest
    if digest is None:
        raise LibraryError(f"photo {photo_id} has no digest (unreadable): nothing to record a prediction for")
    with db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO predictions (photo_id, model_id, gallery_id, digest, decision, landmark, score, threshold,"
            " top_k, error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (photo_id, model_id, gallery_id, digest) DO UPDATE SET decision = excluded.decision,"
            " landmark = excluded.landmark, score = excluded.score, threshold = excluded.threshold,"
            " top_k = excluded.top_k, error = excluded.error, created = excluded.created RETURNING id",
            (photo_id, model_id, gallery_id, digest, decision, landmark, score, threshold,
             json.dumps(list(top_k), ensure_ascii=False), error, now()),
        ).fetchone()  # fmt: skip
    return int(row[0])


@dataclass(frozen=True)
class ProposalRow:
    """One planned location (a `proposals` row)."""

    id: int
    photo_id: int
    kind: str
    prediction_id: int | None
    anchor_photo_id: int | None
    anchor2_photo_id: int | None
    digest: str
    """The photo's digest when proposed: apply must refuse a photo whose content changed since."""
    landmark: str | None
    latitude: float
    longitude: float
    radius_km: float | None
    city: str | None
    country: str | None
    confidence: float | None
    detail: dict[str, Any]
    status: str
    created: str
    updated: str


def _proposal(row: Any) -> ProposalRow:
    values = dict(row)
    values["detail"] = json.loads(values["detail"] or "{}")
    return ProposalRow(**values)


def add_proposal(
    db: LibraryDB,
    photo_id: int,
    *,
    kind: str,
    latitude: float,
    longitude: float,
    radius_km: float | None = None,
    landmark: str | None = None,
    city: str | None = None,
    country: str | None = None,
    confidence: float | None = None,
    prediction_id: int | None = None,
    anchor_photo_id: int | None = None,
    anchor2_photo_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Plan a location for a photo, replacing its open proposal if it has one; returns the new id.

    `kind="estimate"` needs `anchor_photo_id` (the anchor it came from; `anchor2_photo_id` is the
    other one when interpolated between two); `detail` holds the estimate's reasoning as JSON.
    """
    if kind not in PROPOSAL_KINDS:
        raise ValueError(f"kind must be one of {PROPOSAL_KINDS}, not {kind!r}")
    if kind == "estimate" and anchor_photo_id is None:
        raise ValueError("an estimate needs the anchor photo it came from")
    photo = _photo(db, photo_id)
    if photo.digest is None:
        raise LibraryError(f"{photo.path} is unreadable: nothing to propose a location for")
    stamp = now()
    with db.transaction() as conn:
        conn.execute("DELETE FROM proposals WHERE photo_id = ? AND status IN ('proposed', 'accepted')", (photo_id,))
        row = conn.execute(
            "INSERT INTO proposals (photo_id, kind, prediction_id, anchor_photo_id, anchor2_photo_id, digest,"
            " landmark, latitude, longitude, radius_km, city, country, confidence, detail, status, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed', ?, ?) RETURNING id",
            (photo_id, kind, prediction_id, anchor_photo_id, anchor2_photo_id, photo.digest, landmark, latitude,
             longitude, radius_km, city, country, confidence, json.dumps(detail or {}, ensure_ascii=False),
             stamp, stamp),
        ).fetchone()  # fmt: skip
    return int(row[0])


def set_proposal_status(db: LibraryDB, proposal_ids: Iterable[int], status: str) -> int:
    """Move proposals to `status` (see `TRANSITIONS`); all or none. Returns how many changed."""
    if status not in PROPOSAL_STATUSES:
        raise ValueError(f"status must be one of {PROPOSAL_STATUSES}, not {status!r}")
    ids = list(dict.fromkeys(proposal_ids))
    stamp = now()
    with db.transaction() as conn:
        for proposal_id in ids:
            row = conn.execute("SELECT status FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
            if row is None:
                raise LibraryError(f"no proposal {proposal_id} in the library index")
            if row[0] != status and status not in TRANSITIONS[row[0]]:
                raise LibraryError(f"proposal {proposal_id} is {row[0]}: it cannot become {status}")
        conn.executemany(
            "UPDATE proposals SET status = ?, updated = ? WHERE id = ? AND status != ?",
            [(status, stamp, i, status) for i in ids],
        )
    return len(ids)


def proposals(
    db: LibraryDB, *, status: str | None = None, kind: str | None = None, photo_id: int | None = None
) -> list[ProposalRow]:
    """Proposals in photo-path order, filtered by status, kind and photo."""
    where, params = ["1 = 1"], []
    for column, value in (("r.status", status), ("r.kind", kind), ("r.photo_id", photo_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = db.query(
        f"SELECT r.* FROM proposals r JOIN photos p ON p.id = r.photo_id WHERE {' AND '.join(where)}"
        " ORDER BY p.path, r.id",
        params,
    )
    return [_proposal(r) for r in rows]


@dataclass(frozen=True)
class WriteRow:
    """One journaled metadata write (or undo) of one file (a `writes` row)."""

    id: int
    photo_id: int
    proposal_id: int | None
    action: str
    target: str
    """The file written, relative to the root: the photo itself or its XMP sidecar."""
    created_target: int
    tags: dict[str, Any]
    previous: dict[str, Any]
    digest_before: str | None
    digest_after: str | None
    status: str
    detail: str | None
    started: str
    finished: str | None


def _write(row: Any) -> WriteRow:
    values = dict(row)
    values["tags"], values["previous"] = json.loads(values["tags"]), json.loads(values["previous"])
    return WriteRow(**values)


def begin_write(
    db: LibraryDB,
    photo_id: int,
    *,
    target: str,
    tags: dict[str, Any],
    previous: dict[str, Any],
    created_target: bool = False,
    proposal_id: int | None = None,
    action: str = "write",
) -> int:
    """Journal a write before making it (status `writing`); returns the journal id."""
    photo = _photo(db, photo_id)
    with db.transaction() as conn:
        return journal_write(conn, photo, target=target, tags=tags, previous=previous,
                             created_target=created_target, proposal_id=proposal_id, action=action)  # fmt: skip


def journal_write(
    conn: sqlite3.Connection,
    photo: PhotoRow,
    *,
    target: str,
    tags: dict[str, Any],
    previous: dict[str, Any],
    created_target: bool = False,
    proposal_id: int | None = None,
    action: str = "write",
) -> int:
    """`begin_write` inside the caller's transaction (a run journals a whole batch in one commit)."""
    if action not in WRITE_ACTIONS:
        raise ValueError(f"action must be one of {WRITE_ACTIONS}, not {action!r}")
    row = conn.execute(
        "INSERT INTO writes (photo_id, proposal_id, action, target, created_target, tags, previous,"
        " digest_before, status, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'writing', ?) RETURNING id",
        (photo.id, proposal_id, action, target, int(created_target), json.dumps(tags, ensure_ascii=False),
         json.dumps(previous, ensure_ascii=False), photo.digest, now()),
    ).fetchone()  # fmt: skip
    return int(row[0])


def finish_write(
    db: LibraryDB,
    write_id: int,
    *,
    ok: bool,
    detail: str | None = None,
    stamp: tuple[int, int] | None = None,
    digest: str | None = None,
) -> None:
    """Settle a journaled write. When it wrote the photo itself, pass its new (size, mtime_ns) and digest:
    the photo row and its predictions follow, so the next scan sees nothing changed and nothing to predict.
    A write that succeeded moves its proposal to `applied` (an undo: to `undone`) in the same transaction."""
    with db.transaction() as conn:
        settle_write(conn, write_id, ok=ok, detail=detail, stamp=stamp, digest=digest)


def settle_write(
    conn: sqlite3.Connection,
    write_id: int,
    *,
    ok: bool,
    detail: str | None = None,
    stamp: tuple[int, int] | None = None,
    digest: str | None = None,
) -> None:
    """`finish_write` inside the caller's transaction."""
    row = conn.execute("SELECT * FROM writes WHERE id = ?", (write_id,)).fetchone()
    if row is None:
        raise LibraryError(f"no write {write_id} in the library journal")
    conn.execute(
        "UPDATE writes SET status = ?, detail = ?, digest_after = ?, finished = ? WHERE id = ?",
        ("written" if ok else "failed", detail, digest if ok else None, now(), write_id),
    )
    if not ok:
        return
    if digest is not None and stamp is not None:
        before = row["digest_before"]
        conn.execute("UPDATE photos SET size = ?, mtime_ns = ?, digest = ? WHERE id = ?",
                     (stamp[0], stamp[1], digest, row["photo_id"]))  # fmt: skip
        conn.execute(
            "UPDATE OR IGNORE predictions SET digest = ? WHERE photo_id = ? AND digest = ?",
            (digest, row["photo_id"], before),
        )
    if row["proposal_id"] is not None:
        status = "applied" if row["action"] == "write" else "undone"
        conn.execute("UPDATE proposals SET status = ?, updated = ? WHERE id = ?", (status, now(), row["proposal_id"]))


def writes(db: LibraryDB, *, photo_id: int | None = None, status: str | None = None) -> list[WriteRow]:
    """The journal, oldest first, filtered by photo and status (`writing`: interrupted writes)."""
    where, params = ["1 = 1"], []
    for column, value in (("photo_id", photo_id), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return [_write(r) for r in db.query(f"SELECT * FROM writes WHERE {' AND '.join(where)} ORDER BY id", params)]


def note_location(
    conn: sqlite3.Connection,
    photo_id: int,
    gps: tuple[float, float] | None,
    *,
    source: str | None,
    error_m: float | None = None,
    in_sidecar: bool = False,
) -> None:
    """Record the GPS a write of ours just gave (or an undo took from) a photo, inside the caller's
    transaction: the photo's new stamp is already in the index, so a scan would not read it again."""
    lat, lon = gps if gps is not None else (None, None)
    conn.execute(
        "UPDATE photos SET gps_lat = ?, gps_lon = ?, gps_source = ?, gps_error_m = ?, gps_in_sidecar = ? WHERE id = ?",
        (lat, lon, source if gps is not None else None, error_m if gps is not None else None, int(in_sidecar),
         photo_id),
    )  # fmt: skip
