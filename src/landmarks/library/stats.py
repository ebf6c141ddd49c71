"""What the index knows about a library: how many photos, which are located, and by what.

A photo is located by the last location we applied to it (`landmark` or `estimate`), else by the
GPS it already had (`gps`; `estimate` when it carries the marker of an estimate we wrote), else not
at all (`none`). Read-only: safe while a run is going on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from landmarks.library.db import LibraryDB

LOCATED_BY = ("gps", "landmark", "estimate", "none")

_LOCATED_SQL = """
SELECT p.id, p.path, p.gps_lat, p.gps_lon, p.gps_source, p.gps_error_m, p.datetime_original,
       p.offset_time_original, p.taken_utc, p.make, p.model, p.serial,
       a.kind AS kind, a.latitude AS latitude, a.longitude AS longitude, a.radius_km AS radius_km,
       a.landmark AS landmark, a.city AS city, a.country AS country, a.confidence AS confidence,
       anchor.path AS anchor
FROM photos p
LEFT JOIN (SELECT photo_id, MAX(id) AS id FROM proposals WHERE status = 'applied' GROUP BY photo_id) last
    ON last.photo_id = p.id
LEFT JOIN proposals a ON a.id = last.id
LEFT JOIN photos anchor ON anchor.id = a.anchor_photo_id
WHERE p.status = 'present'
ORDER BY p.path
"""


def located_photos(db: LibraryDB) -> list[dict[str, Any]]:
    """One record per present photo: where it is (if known), by what, and its capture facts."""
    out = []
    for r in db.query(_LOCATED_SQL):
        if r["kind"] is not None:
            by, lat, lon, radius = r["kind"], r["latitude"], r["longitude"], r["radius_km"]
        elif r["gps_lat"] is not None:
            error_m = r["gps_error_m"]
            by = "estimate" if r["gps_source"] == "estimate" else "gps"  # one we wrote, by its marker
            lat, lon, radius = r["gps_lat"], r["gps_lon"], None if error_m is None else error_m / 1000
        else:
            by, lat, lon, radius = "none", None, None, None
        out.append({
            "path": r["path"], "located_by": by, "latitude": lat, "longitude": lon, "radius_km": radius,
            "landmark": r["landmark"], "city": r["city"], "country": r["country"], "confidence": r["confidence"],
            "anchor": r["anchor"], "gps_source": r["gps_source"] if by == "gps" else None,
            "datetime_original": r["datetime_original"], "offset_time_original": r["offset_time_original"],
            "taken_utc": r["taken_utc"], "make": r["make"], "model": r["model"], "serial": r["serial"],
        })  # fmt: skip
    return out


@dataclass
class LibraryStats:
    photos: int = 0
    """Photos on disk (readable or not); `located` counts the readable ones."""
    unreadable: int = 0
    missing: int = 0
    located: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LOCATED_BY, 0))
    with_capture_time: int = 0
    with_utc_time: int = 0
    cameras: int = 0
    predicted: int = 0
    """Present photos with a prediction for their current content (any model)."""
    models: int = 0
    proposals: dict[str, int] = field(default_factory=dict)
    """By status; `proposals_by_kind` by landmark / estimate."""
    proposals_by_kind: dict[str, int] = field(default_factory=dict)
    interrupted_writes: int = 0
    """Writes journaled but never settled (a killed run): what undo must look at."""
    last_scan: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def library_stats(db: LibraryDB) -> LibraryStats:
    stats = LibraryStats()
    for status, n in db.query("SELECT status, COUNT(*) FROM photos GROUP BY status"):
        if status == "missing":
            stats.missing = n
        else:
            stats.photos += n
            if status == "unreadable":
                stats.unreadable = n
    for record in located_photos(db):
        stats.located[record["located_by"]] += 1
    row = db.query(
        "SELECT COUNT(datetime_original), COUNT(taken_utc_s),"
        " COUNT(DISTINCT COALESCE(make, '') || '|' || COALESCE(model, '') || '|' || COALESCE(serial, ''))"
        " FILTER (WHERE make IS NOT NULL OR model IS NOT NULL) FROM photos WHERE status = 'present'"
    )[0]
    stats.with_capture_time, stats.with_utc_time, stats.cameras = row[0], row[1], row[2]
    row = db.query(
        "SELECT COUNT(DISTINCT r.photo_id), COUNT(DISTINCT r.model_id || '|' || r.gallery_id) FROM predictions r"
        " JOIN photos p ON p.id = r.photo_id AND p.digest = r.digest WHERE p.status = 'present'"
    )[0]
    stats.predicted, stats.models = row[0], row[1]
    stats.proposals = dict(db.query("SELECT status, COUNT(*) FROM proposals GROUP BY status ORDER BY 1"))
    stats.proposals_by_kind = dict(db.query("SELECT kind, COUNT(*) FROM proposals GROUP BY kind ORDER BY 1"))
    stats.interrupted_writes = db.query("SELECT COUNT(*) FROM writes WHERE status = 'writing'")[0][0]
    stats.last_scan = db.query("SELECT MAX(finished) FROM scans")[0][0]
    return stats
