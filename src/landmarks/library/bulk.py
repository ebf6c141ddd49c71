"""Many predictions or proposals in one transaction: a run over thousands of photos commits per chunk.

Each commit of the index is an fsync (`synchronous = FULL`), so recording photo by photo would cost
more than the predictions themselves on a rerun. Same rules as `records` (one open proposal per
photo, predictions keyed by model, gallery and content digest).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from landmarks.library.db import LibraryDB, now
from landmarks.library.schema import DECISIONS


@dataclass(frozen=True)
class NewPrediction:
    photo_id: int
    digest: str
    decision: str
    landmark: str | None = None
    score: float | None = None
    threshold: float | None = None
    top_k: Sequence[dict[str, Any]] = ()
    error: str | None = None


@dataclass(frozen=True)
class NewProposal:
    photo_id: int
    digest: str
    latitude: float
    longitude: float
    kind: str = "landmark"
    prediction_id: int | None = None
    landmark: str | None = None
    radius_km: float | None = None
    city: str | None = None
    country: str | None = None
    confidence: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def record_predictions(
    db: LibraryDB, items: Sequence[NewPrediction], *, model_id: str, gallery_id: str = ""
) -> list[int]:
    """Store (or replace) these predictions in one transaction; their ids, in order."""
    for item in items:
        if item.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {item.decision!r}")
    stamp, ids = now(), []
    with db.transaction() as conn:
        for p in items:
            row = conn.execute(
                "INSERT INTO predictions (photo_id, model_id, gallery_id, digest, decision, landmark, score,"
                " threshold, top_k, error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (photo_id, model_id, gallery_id, digest) DO UPDATE SET decision = excluded.decision,"
                " landmark = excluded.landmark, score = excluded.score, threshold = excluded.threshold,"
                " top_k = excluded.top_k, error = excluded.error, created = excluded.created RETURNING id",
                (p.photo_id, model_id, gallery_id, p.digest, p.decision, p.landmark, p.score, p.threshold,
                 json.dumps(list(p.top_k), ensure_ascii=False), p.error, stamp),
            ).fetchone()  # fmt: skip
            ids.append(int(row[0]))
    return ids


def add_proposals(db: LibraryDB, items: Sequence[NewProposal]) -> list[int]:
    """Plan these locations in one transaction, each replacing its photo's open proposal; their ids."""
    stamp, ids = now(), []
    with db.transaction() as conn:
        for p in items:
            if p.kind == "estimate":
                raise ValueError("estimates need an anchor photo: use records.add_proposal")
            conn.execute(
                "DELETE FROM proposals WHERE photo_id = ? AND status IN ('proposed', 'accepted')", (p.photo_id,)
            )
            row = conn.execute(
                "INSERT INTO proposals (photo_id, kind, prediction_id, digest, landmark, latitude, longitude,"
                " radius_km, city, country, confidence, detail, status, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed', ?, ?) RETURNING id",
                (p.photo_id, p.kind, p.prediction_id, p.digest, p.landmark, p.latitude, p.longitude, p.radius_km,
                 p.city, p.country, p.confidence, json.dumps(p.detail, ensure_ascii=False), stamp, stamp),
            ).fetchone()  # fmt: skip
            ids.append(int(row[0]))
    return ids
