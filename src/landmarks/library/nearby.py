"""Plan estimates for the photos taken around located ones: the index's rows in, `estimate` proposals out.

Anchors are photos that carry their own GPS (EXIF/XMP GPS or an IPTC LocationCreated: where the
camera was; a LocationShown is where the subject is, so it never anchors) and photos with a live
landmark proposal (proposed, accepted or applied; a rejected one places nothing). A GPS we wrote
ourselves from an estimate never anchors, nor is estimated again: estimates are not chained. That
holds for a rebuilt index too, which knows such a photo by its marker (`gps_source` = `estimate`).

Planning is repeatable: an open estimate the same anchors still support stays as it is (so a
review decision survives), a changed one is replaced, and one no longer supported is withdrawn
(its open proposal deleted). Every photo considered gets an outcome line for the report.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from landmarks.atomic import atomic_write_text
from landmarks.catalog import great_circle_km
from landmarks.errors import LibraryError
from landmarks.library.db import LibraryDB, PhotoRow, now
from landmarks.library.estimate import Anchor, Estimate, EstimateOptions, NoEstimate, Shot, estimate
from landmarks.library.records import ProposalRow, proposals

GPS_RADIUS_KM = 0.05
"""A GPS fix without a stated error: a phone's typical horizontal accuracy outdoors is tens of metres."""
LANDMARK_RADIUS_KM = 1.0
"""A landmark whose catalog gives no radius: photos of a building are taken from up to about 1 km."""
ANCHOR_GPS_SOURCES = ("exif", "xmp", "location_created")
SAME_PLACE_KM = 0.001

OUTCOMES = ("proposed", "kept", "skipped", "withdrawn", "anchor")


@dataclass(frozen=True)
class NearbyOutcome:
    """One photo's line in the plan report."""

    photo_id: int
    path: str
    outcome: str
    """proposed (new or changed), kept (an open estimate still holds), skipped, withdrawn, anchor."""
    reason: str
    """`estimate`; for an anchor `gps` or `landmark`; else why not (`estimate.REASONS`, `has_location`, ...)."""
    detail: str
    proposal_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    anchor: str | None = None
    anchor2: str | None = None


@dataclass
class NearbyPlan:
    outcomes: list[NearbyOutcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            key = o.outcome if o.outcome != "skipped" else f"skipped: {o.reason}"
            out[key] = out.get(key, 0) + 1
        return out


def _shot(p: PhotoRow) -> Shot:
    return Shot(p.id, p.make, p.model, p.serial, p.taken_local_s, p.taken_utc_s)


def _latest(rows: list[ProposalRow]) -> dict[int, ProposalRow]:
    by_photo: dict[int, ProposalRow] = {}
    for r in sorted(rows, key=lambda r: r.id):
        by_photo[r.photo_id] = r
    return by_photo


def gather(db: LibraryDB) -> tuple[list[PhotoRow], dict[int, Anchor], dict[int, str]]:
    """Present photos, their anchors, and the photos that are no targets (with why)."""
    photos = [p for p in db.photos() if p.digest is not None]
    live = {"proposed", "accepted", "applied"}
    landmark = _latest([r for r in proposals(db, kind="landmark") if r.status in live])
    estimates = proposals(db, kind="estimate")
    # applied here, or written before and read back by a scan (its marker: the index may be new)
    applied_estimate = {r.photo_id for r in estimates if r.status == "applied"}
    applied_estimate |= {p.id for p in photos if p.gps_source == "estimate"}
    rejected = {(r.photo_id, r.digest) for r in estimates if r.status == "rejected"}
    anchors: dict[int, Anchor] = {}
    not_targets: dict[int, str] = {}
    for p in photos:
        if p.id in applied_estimate:
            not_targets[p.id] = "already_estimated"
        elif p.gps is not None:
            not_targets[p.id] = "has_location"
            if p.gps_source in ANCHOR_GPS_SOURCES and p.id not in landmark:
                radius = p.gps_error_m / 1000 if p.gps_error_m and p.gps_error_m > 0 else GPS_RADIUS_KM
                anchors[p.id] = Anchor(p.id, p.gps_lat, p.gps_lon, radius, "gps")  # type: ignore[arg-type]
        if p.id in landmark and p.id not in applied_estimate:
            r = landmark[p.id]
            radius = r.radius_km if r.radius_km and r.radius_km > 0 else LANDMARK_RADIUS_KM
            anchors[p.id] = Anchor(p.id, r.latitude, r.longitude, radius, "landmark", r.landmark, r.confidence)
            not_targets[p.id] = "landmark"
        elif (p.id, p.digest) in rejected and p.id not in not_targets:
            not_targets[p.id] = "rejected_before"
    return photos, anchors, not_targets


def plan_estimates(db: LibraryDB, options: EstimateOptions | None = None, *, now_s: float | None = None) -> NearbyPlan:
    """Estimate every photo that has no location of its own and record the estimates as proposals
    (all in one transaction: a library of thousands of photos costs one commit)."""
    options = options or EstimateOptions()
    photos, anchors, not_targets = gather(db)
    by_id = {p.id: p for p in photos}
    open_estimates = {r.photo_id: r for r in proposals(db, kind="estimate") if r.status in ("proposed", "accepted")}
    places = {r.photo_id: (r.city, r.country) for r in proposals(db, kind="landmark") if r.status != "rejected"}
    shots = [_shot(p) for p in photos if p.id in anchors or p.id not in not_targets]
    results = estimate(shots, anchors, time.time() if now_s is None else now_s, options)
    plan, withdraw, inserts = NearbyPlan(), [], []
    for result in results:
        photo = by_id[result.photo_id]
        old = open_estimates.get(photo.id)
        if isinstance(result, NoEstimate):
            if result.reason == "outlier":  # an anchor dropped: say so on its line, propose nothing
                plan.outcomes.append(NearbyOutcome(photo.id, photo.path, "skipped", "anchor_outlier", result.detail))
                continue
            if old is not None:
                withdraw.append(old.id)
            outcome = "withdrawn" if old is not None else "skipped"
            plan.outcomes.append(NearbyOutcome(photo.id, photo.path, outcome, result.reason, result.detail))
            continue
        line = _line(photo, result, by_id)
        if old is not None and old.digest == photo.digest and _same(old, result):
            plan.outcomes.append(replace(line, outcome="kept", proposal_id=old.id))
            continue
        inserts.append((len(plan.outcomes), _row(photo, result, anchors[result.anchor_id], line, places, options)))
        plan.outcomes.append(line)
    ids = _commit(db, withdraw, [row for _, row in inserts])
    for (index, _), proposal_id in zip(inserts, ids, strict=True):
        plan.outcomes[index] = replace(plan.outcomes[index], proposal_id=proposal_id)
    dropped = {o.photo_id for o in plan.outcomes}
    for pid, reason in not_targets.items():
        if pid in dropped:
            continue
        if pid in anchors:
            a = anchors[pid]
            text = f"anchor: {a.landmark or 'its own GPS'}, radius {a.radius_km:g} km"
            plan.outcomes.append(NearbyOutcome(pid, by_id[pid].path, "anchor", a.source, text, None,
                                               a.latitude, a.longitude, a.radius_km))  # fmt: skip
        else:
            plan.outcomes.append(NearbyOutcome(pid, by_id[pid].path, "skipped", reason, _NOT_TARGET[reason]))
    plan.outcomes.sort(key=lambda o: o.path)
    return plan


_NOT_TARGET = {
    "already_estimated": "an estimate was already written into this photo",
    "rejected_before": "an estimate for this photo was rejected in review",
    "landmark": "located by its landmark",
    "has_location": "the photo has a location of its own",
}


def _same(old: ProposalRow, e: Estimate) -> bool:
    return (
        old.anchor_photo_id == e.anchor_id
        and old.anchor2_photo_id == e.anchor2_id
        and old.radius_km is not None
        and math.isclose(old.radius_km, e.radius_km, rel_tol=1e-6)
        and great_circle_km(old.latitude, old.longitude, e.latitude, e.longitude) < SAME_PLACE_KM
    )


def _line(photo: PhotoRow, e: Estimate, by_id: dict[int, PhotoRow]) -> NearbyOutcome:
    anchor2 = None if e.anchor2_id is None else by_id[e.anchor2_id].path
    return NearbyOutcome(photo.id, photo.path, "proposed", "estimate", e.reason, None, e.latitude, e.longitude,
                         e.radius_km, by_id[e.anchor_id].path, anchor2)  # fmt: skip


def _row(
    photo: PhotoRow,
    e: Estimate,
    first: Anchor,
    line: NearbyOutcome,
    places: dict[int, tuple[str | None, str | None]],
    options: EstimateOptions,
) -> tuple[Any, ...]:
    """The proposals row of one estimate (city and country from its anchor's landmark, if any)."""
    detail = {
        "method": e.method, "gap_s": e.gap_s, "reason": e.reason, "anchor_source": first.source,
        "anchor_path": line.anchor, "anchor2_path": line.anchor2, "anchor_landmark": first.landmark,
        "window_s": options.window_s, "speed_kmh": options.speed_kmh, "max_radius_km": options.max_radius_km,
        # without a serial, another body of the same make and model shares this "clock": the reviewer should know
        "camera": {"make": photo.make, "model": photo.model, "serial": photo.serial},
    }  # fmt: skip
    city, country = places.get(e.anchor_id, (None, None))
    return (photo.id, e.anchor_id, e.anchor2_id, photo.digest, e.latitude, e.longitude, e.radius_km, city, country,
            first.confidence, json.dumps(detail, ensure_ascii=False))  # fmt: skip


def _commit(db: LibraryDB, withdraw: list[int], rows: list[tuple[Any, ...]]) -> list[int]:
    """Withdraw and insert in one transaction, each insert replacing its photo's open proposal."""
    if not withdraw and not rows:
        return []
    stamp, ids = now(), []
    with db.transaction() as conn:
        conn.executemany("DELETE FROM proposals WHERE id = ? AND status IN ('proposed', 'accepted')",
                         [(i,) for i in withdraw])  # fmt: skip
        for row in rows:
            conn.execute("DELETE FROM proposals WHERE photo_id = ? AND status IN ('proposed', 'accepted')", (row[0],))
            found = conn.execute(
                "INSERT INTO proposals (photo_id, kind, anchor_photo_id, anchor2_photo_id, digest, latitude,"
                " longitude, radius_km, city, country, confidence, detail, status, created, updated)"
                " VALUES (?, 'estimate', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed', ?, ?) RETURNING id",
                (*row, stamp, stamp),
            ).fetchone()
            ids.append(int(found[0]))
    return ids


REPORT_COLUMNS = tuple(f.name for f in fields(NearbyOutcome))


def write_report(plan: NearbyPlan, path: Path | str) -> Path:
    """The plan's outcomes, one row per photo considered (atomic)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(o) for o in plan.outcomes)
    try:
        return atomic_write_text(path, buffer.getvalue())
    except OSError as exc:
        raise LibraryError(f"cannot write the estimate report {path}: {exc.strerror or exc}") from exc
