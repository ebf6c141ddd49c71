"""Plan a library's locations: scan, predict only what the index lacks, propose, write nothing.

`plan_library` is the first half of `landmarks geotag DIR` (the second is `apply.apply_proposals`):

1. settle the writes a killed run left unsettled (`recover_writes`), then scan (`scan_library`,
   incremental: unchanged photos are not opened);
2. predict the photos with no prediction by this model and gallery for their current content
   (`needs_prediction`): a rerun over an unchanged library predicts nothing and loads no model;
   each chunk's predictions are committed together, so a killed run keeps what it predicted;
3. propose a location for each photo whose prediction is confident, that has no GPS and no
   proposal already deciding it (open, applied, or rejected / undone for the same landmark).

Photos with GPS are not predicted (unless `overwrite_gps`): the geotagger never needed to ask.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landmarks.errors import LandmarksError, LibraryError
from landmarks.geotag.batch import PredictorLike
from landmarks.geotag.recover import recover_writes
from landmarks.inference.types import Prediction
from landmarks.library.bulk import NewPrediction, NewProposal, add_proposals, record_predictions
from landmarks.library.db import LibraryDB, PhotoRow
from landmarks.library.records import needs_prediction
from landmarks.library.scan import ScanSummary, scan_library

TOP_K = 3
"""Guesses kept per prediction (the review page shows the runners-up)."""


@dataclass(frozen=True)
class PlanOptions:
    min_confidence: float | None = None
    """Propose only predictions scoring at least this; None: each prediction's own threshold."""
    overwrite_gps: bool = False
    recursive: bool = True
    batch_size: int = 16
    chunk_size: int = 64
    """Photos per predict_many call and per committed transaction."""


@dataclass
class PlanSummary:
    scan: ScanSummary
    model_id: str
    gallery_id: str
    predicted: int = 0
    failed: int = 0
    """Photos the predictor could not read (recorded as decision `error`)."""
    proposed: list[int] = field(default_factory=list)
    """Ids of the proposals this plan made."""
    recovered: int = 0


def plan_library(
    db: LibraryDB,
    predictor: PredictorLike | Callable[[], PredictorLike],
    *,
    model_id: str,
    gallery_id: str = "",
    options: PlanOptions | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> PlanSummary:
    """Bring the index up to date and propose locations (see the module doc); touches no photo.

    `predictor` may be a factory, called only when some photo needs a prediction. `on_total` hears
    how many photos will be predicted, `progress` each chunk done.
    """
    options = options or PlanOptions()
    if not db.writable:
        raise LibraryError(f"the library index {db.path} was opened read-only: a plan records into it")
    recovered = recover_writes(db)
    scan = scan_library(db.root, db, recursive=options.recursive, progress=False)
    summary = PlanSummary(scan, model_id, gallery_id, recovered=recovered)
    todo = [p for p in needs_prediction(db, model_id, gallery_id) if _wanted(p, options)]
    if on_total is not None:
        on_total(len(todo))
    neighbours: dict[int, list[dict[str, Any]]] = {}
    if todo:
        model = predictor if hasattr(predictor, "predict_many") else predictor()  # type: ignore[operator]
        for start in range(0, len(todo), options.chunk_size):
            chunk = todo[start : start + options.chunk_size]
            answers = model.predict_many([db.abspath(p) for p in chunk], k=TOP_K, batch_size=options.batch_size)
            if len(answers) != len(chunk):
                raise LandmarksError(f"the predictor answered {len(answers)} of {len(chunk)} photos")
            items = [_prediction(p, a, neighbours) for p, a in zip(chunk, answers, strict=True)]
            record_predictions(db, items, model_id=model_id, gallery_id=gallery_id)
            summary.predicted += len(items)
            summary.failed += sum(i.decision == "error" for i in items)
            if progress is not None:
                progress(len(chunk))
    summary.proposed = _propose(db, model_id, gallery_id, options, neighbours)
    return summary


def _wanted(photo: PhotoRow, options: PlanOptions) -> bool:
    if not options.recursive and "/" in photo.path:
        return False
    return photo.gps is None or options.overwrite_gps


def _prediction(
    photo: PhotoRow, answer: Prediction | LandmarksError, neighbours: dict[int, list[dict[str, Any]]]
) -> NewPrediction:
    assert photo.digest is not None  # needs_prediction returns present photos, which have one
    if isinstance(answer, LandmarksError):
        return NewPrediction(photo.id, photo.digest, "error", error=str(answer))
    top = [
        {"name": g.name, "folder": g.folder, "probability": g.probability, "latitude": g.latitude,
         "longitude": g.longitude, "radius_km": g.radius_km, "city": g.city, "country": g.country}
        for g in answer.top
    ]  # fmt: skip
    neighbours[photo.id] = [n.model_dump() for n in answer.neighbours]
    return NewPrediction(
        photo.id, photo.digest, "unknown" if answer.unknown or not answer.top else "known",
        landmark=answer.best.name if answer.top else None, score=answer.score, threshold=answer.threshold,
        top_k=top,
    )  # fmt: skip


_CANDIDATES = """
SELECT p.id AS photo_id, p.path, p.digest, r.id AS prediction_id, r.landmark, r.score, r.threshold, r.top_k
FROM photos p
JOIN predictions r ON r.photo_id = p.id AND r.model_id = :model AND r.gallery_id = :gallery AND r.digest = p.digest
WHERE p.status = 'present' AND r.decision != 'error' AND r.landmark IS NOT NULL
  AND r.score >= COALESCE(:min_confidence, r.threshold)
  AND (p.gps_lat IS NULL OR :overwrite)
ORDER BY p.path
"""


def _decided(db: LibraryDB) -> dict[int, list[tuple[str, str, str, str | None]]]:
    """(status, kind, digest, landmark) of every proposal, by photo: read once, not once per candidate."""
    out: dict[int, list[tuple[str, str, str, str | None]]] = {}
    for r in db.query("SELECT photo_id, status, kind, digest, landmark FROM proposals"):
        out.setdefault(r[0], []).append((r[1], r[2], r[3], r[4]))
    return out


def _blocked(existing: list[tuple[str, str, str, str | None]], digest: str, landmark: str) -> bool:
    """Whether a proposal already decides this photo: applied, open (an estimate, or this landmark for
    this content), or rejected / undone for this landmark (the user's no is not asked again)."""
    for status, kind, old_digest, old_landmark in existing:
        if status == "applied":
            return True
        if status in ("proposed", "accepted") and (
            kind == "estimate" or (old_digest, old_landmark) == (digest, landmark)
        ):
            return True
        if status in ("rejected", "undone") and old_landmark == landmark:
            return True
    return False


def _propose(
    db: LibraryDB, model_id: str, gallery_id: str, options: PlanOptions, neighbours: dict[int, list[dict[str, Any]]]
) -> list[int]:
    params = {"model": model_id, "gallery": gallery_id, "min_confidence": options.min_confidence,
              "overwrite": int(options.overwrite_gps)}  # fmt: skip
    items: list[NewProposal] = []
    decided = _decided(db)
    for r in db.query(_CANDIDATES, params):
        if not options.recursive and "/" in r["path"]:
            continue
        if _blocked(decided.get(r["photo_id"], []), r["digest"], r["landmark"]):
            continue
        best = (json.loads(r["top_k"]) or [{}])[0]
        lat, lon = best.get("latitude"), best.get("longitude")
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            continue  # the catalog has no (usable) location for this landmark: nothing to propose
        detail = {"model_id": model_id, "gallery_id": gallery_id, "threshold": r["threshold"],
                  "top_k": json.loads(r["top_k"]), "neighbours": neighbours.get(r["photo_id"], [])}  # fmt: skip
        proposal = NewProposal(
            r["photo_id"], r["digest"], lat, lon, prediction_id=r["prediction_id"], landmark=r["landmark"],
            radius_km=best.get("radius_km"), city=best.get("city"), country=best.get("country"),
            confidence=r["score"], detail=detail,
        )  # fmt: skip
        items.append(proposal)
    ids: list[int] = []
    for start in range(0, len(items), 500):
        ids += add_proposals(db, items[start : start + 500])
    return ids


def model_id_of(checkpoint: Path) -> str:
    """A model's identity in the index: the digest of its checkpoint file (retrieval gallery included)."""
    from landmarks.data.decode import file_digest
    from landmarks.errors import CheckpointError

    try:
        return "sha256:" + file_digest(checkpoint)[:16]
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint {checkpoint}: {exc.strerror or exc}") from exc
