"""The library's located photos as GeoJSON (a map) and CSV (a spreadsheet), written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from landmarks.atomic import atomic_write_text
from landmarks.library.db import LibraryDB
from landmarks.library.stats import located_photos

CSV_COLUMNS = (
    "path", "located_by", "latitude", "longitude", "radius_km", "landmark", "city", "country", "confidence",
    "anchor", "gps_source", "datetime_original", "offset_time_original", "taken_utc", "make", "model", "serial",
)  # fmt: skip


def export_geojson(db: LibraryDB, path: Path | str) -> int:
    """A FeatureCollection of every located photo (Point, [lon, lat]); returns how many."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]},
            "properties": {k: v for k, v in r.items() if k not in ("latitude", "longitude") and v is not None},
        }
        for r in located_photos(db)
        if r["latitude"] is not None
    ]
    collection = {"type": "FeatureCollection", "features": features}
    atomic_write_text(path, json.dumps(collection, ensure_ascii=False, indent=1))
    return len(features)


def export_csv(db: LibraryDB, path: Path | str) -> int:
    """One row per present photo, located or not (`located_by` = gps/landmark/estimate/none); returns rows."""
    records = located_photos(db)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buffer.getvalue())
    return len(records)
