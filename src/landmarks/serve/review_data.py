"""What the review view shows, read from the library index: proposals with their evidence, and the map.

Photos are named by index id (and their path relative to the root, for people to read); nothing
here touches a photo file. The evidence for a landmark proposal comes from its prediction's stored
top-k and from the nearest training photos recorded with it (`detail["neighbours"]`, else the
prediction's `top_k` entries' `neighbours`), whose thumbnails the predictor's
`/api/v1/neighbours/{index}.jpg` draws.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from landmarks.library.db import LibraryDB
from landmarks.library.records import ProposalRow, proposals
from landmarks.library.schema import PROPOSAL_KINDS, PROPOSAL_STATUSES
from landmarks.library.stats import located_photos

Order = Literal["path", "confidence", "-confidence"]
StatusFilter = Literal["review", "open", "all", "proposed", "accepted", "rejected", "applied", "undone"]
GROUPS = {"open": ("proposed", "accepted"), "review": ("proposed", "accepted", "rejected"), "all": PROPOSAL_STATUSES}
"""Filters that name several statuses: `open` (still to write), `review` (the page's default: not yet written)."""
MAX_TOP = 5
MAX_NEIGHBOURS = 5


class PhotoRef(BaseModel):
    """A photo of the library: its index id (what the API takes) and its path (what people read)."""

    photo_id: int
    path: str


class GuessOut(BaseModel):
    name: str
    probability: float | None = None


class NeighbourOut(BaseModel):
    index: int = Field(description="row of the training photo in the model's retrieval index")
    name: str = ""
    similarity: float | None = None


class ProposalOut(BaseModel):
    id: int
    photo: PhotoRef
    kind: str = Field(description="landmark (recognised in this photo) or estimate (from an anchor photo)")
    status: str
    landmark: str | None
    city: str | None
    country: str | None
    latitude: float
    longitude: float
    radius_km: float | None
    confidence: float | None
    anchor: PhotoRef | None = Field(description="for an estimate: the photo of a recognised landmark it came from")
    anchor2: PhotoRef | None = None
    changed: bool = Field(description="the photo's content changed since it was planned: apply will skip it")
    top: list[GuessOut]
    neighbours: list[NeighbourOut]
    reason: str | None = Field(None, description="for an estimate: how it was made, in words")
    anchor_landmark: str | None = Field(None, description="for an estimate: the landmark of its anchor photo")
    caution: str | None = Field(None, description="for an estimate: what a reviewer should check, if anything")
    updated: str


class ProposalList(BaseModel):
    total: int = Field(description="proposals matching the filter (the list may hold only a page of them)")
    offset: int
    counts: dict[str, int] = Field(description="proposals per status, over the whole library")
    proposals: list[ProposalOut]


class LocatedOut(BaseModel):
    photo_id: int
    path: str
    located_by: str
    latitude: float
    longitude: float
    radius_km: float | None
    landmark: str | None


class LocatedList(BaseModel):
    total: int
    unlocated: int
    photos: list[LocatedOut]


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def _guesses(top_k: list[Any]) -> list[GuessOut]:
    out = []
    for entry in top_k[:MAX_TOP]:
        if isinstance(entry, dict) and isinstance(entry.get("name") or entry.get("landmark"), str):
            prob = entry.get("probability")
            out.append(GuessOut(name=entry.get("name") or entry["landmark"],
                                probability=float(prob) if isinstance(prob, int | float) else None))  # fmt: skip
    return out


def _neighbours(raw: Any) -> list[NeighbourOut]:
    out = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("index"), int) and entry["index"] >= 0:
            sim = entry.get("similarity")
            out.append(NeighbourOut(index=entry["index"], name=str(entry.get("name") or ""),
                                    similarity=float(sim) if isinstance(sim, int | float) else None))  # fmt: skip
        if len(out) == MAX_NEIGHBOURS:
            break
    return out


def _text(detail: dict[str, Any], key: str) -> str | None:
    value = detail.get(key)
    return value[:500] if isinstance(value, str) else None


def _caution(detail: dict[str, Any]) -> str | None:
    """An estimate leans on the camera's clock; without a serial, another body of the model shares it."""
    camera = detail.get("camera")
    if isinstance(camera, dict) and camera.get("model") and not camera.get("serial"):
        return f"the camera ({camera['model']}) has no serial: another one of that model may share this clock"
    return None


def proposal_counts(db: LibraryDB) -> dict[str, int]:
    counts = dict.fromkeys(PROPOSAL_STATUSES, 0)
    counts.update({r[0]: r[1] for r in db.query("SELECT status, COUNT(*) FROM proposals GROUP BY status")})
    return counts


def list_proposals(
    db: LibraryDB,
    *,
    status: StatusFilter = "review",
    kind: str | None = None,
    order: Order = "path",
    offset: int = 0,
    limit: int = 200,
) -> ProposalList:
    """One page of proposals with the evidence the grid shows, in photo-path order or by confidence
    (`confidence`: the least sure first, those to look at hardest; no confidence, as estimates, last)."""
    if kind is not None and kind not in PROPOSAL_KINDS:
        raise ValueError(f"kind must be one of {PROPOSAL_KINDS}")
    if status in GROUPS:
        rows = [r for r in proposals(db, kind=kind) if r.status in GROUPS[status]]
    else:
        rows = proposals(db, status=status, kind=kind)
    if order != "path":  # stable: equal confidences stay in path order
        sign = 1 if order == "confidence" else -1
        rows.sort(key=lambda r: (r.confidence is None, sign * (r.confidence or 0.0)))
    page = rows[offset : offset + limit]
    photos = _photo_facts(db, {i for r in page for i in (r.photo_id, r.anchor_photo_id, r.anchor2_photo_id) if i})
    predictions = _top_k(db, {r.prediction_id for r in page if r.prediction_id is not None})
    return ProposalList(
        total=len(rows),
        offset=offset,
        counts=proposal_counts(db),
        proposals=[_out(r, photos, predictions) for r in page],
    )


def _photo_facts(db: LibraryDB, ids: set[int]) -> dict[int, tuple[str, str | None]]:
    """id -> (path, current digest) for these photos."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.query(f"SELECT id, path, digest FROM photos WHERE id IN ({marks})", sorted(ids))
    return {r["id"]: (r["path"], r["digest"]) for r in rows}


def _top_k(db: LibraryDB, ids: set[int]) -> dict[int, list[Any]]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.query(f"SELECT id, top_k FROM predictions WHERE id IN ({marks})", sorted(ids))
    return {r["id"]: _json(r["top_k"], []) for r in rows}


def _ref(photo_id: int | None, photos: dict[int, tuple[str, str | None]]) -> PhotoRef | None:
    if photo_id is None or photo_id not in photos:
        return None
    return PhotoRef(photo_id=photo_id, path=photos[photo_id][0])


def _out(row: ProposalRow, photos: dict[int, tuple[str, str | None]], predictions: dict[int, list[Any]]) -> ProposalOut:
    top_k = predictions.get(row.prediction_id, []) if row.prediction_id is not None else []
    recorded = row.detail.get("neighbours")
    if recorded is None and top_k and isinstance(top_k[0], dict):
        recorded = top_k[0].get("neighbours")
    path, digest = photos.get(row.photo_id, ("?", None))
    return ProposalOut(
        id=row.id,
        photo=PhotoRef(photo_id=row.photo_id, path=path),
        kind=row.kind,
        status=row.status,
        landmark=row.landmark,
        city=row.city,
        country=row.country,
        latitude=row.latitude,
        longitude=row.longitude,
        radius_km=row.radius_km,
        confidence=row.confidence,
        anchor=_ref(row.anchor_photo_id, photos),
        anchor2=_ref(row.anchor2_photo_id, photos),
        changed=digest != row.digest,
        top=_guesses(top_k if isinstance(top_k, list) else []),
        neighbours=_neighbours(recorded),
        reason=_text(row.detail, "reason"),
        anchor_landmark=_text(row.detail, "anchor_landmark"),
        caution=_caution(row.detail) if row.kind == "estimate" else None,
        updated=row.updated,
    )


def list_located(db: LibraryDB, limit: int) -> LocatedList:
    """Every present photo with a place (its own GPS, or a location we applied), for the second map."""
    ids = {r["path"]: r["id"] for r in db.query("SELECT id, path FROM photos WHERE status = 'present'")}
    records = located_photos(db)
    located = [r for r in records if r["latitude"] is not None and r["path"] in ids]
    keys = ("path", "located_by", "latitude", "longitude", "radius_km", "landmark")
    photos = [LocatedOut(photo_id=ids[r["path"]], **{k: r[k] for k in keys}) for r in located[:limit]]
    return LocatedList(total=len(located), unlocated=len(records) - len(located), photos=photos)


def accept_above(db: LibraryDB, min_confidence: float, kind: str | None) -> list[int]:
    """The proposed (not yet decided) proposals at or above a confidence: what "accept all above" takes."""
    return [
        r.id
        for r in proposals(db, status="proposed", kind=kind)
        if r.confidence is not None and r.confidence >= min_confidence
    ]
