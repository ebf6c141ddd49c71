"""The library index's tables, as ordered migrations: version N is the state after `MIGRATIONS[:N]`.

A database records every migration it went through in `schema_version`; opening one runs the
migrations it lacks, each in its own transaction, so a database from any earlier version is brought
up to date and one that is interrupted half-way stays at its last complete version. Never edit a
released migration: append a new one.

Conventions: paths are POSIX paths relative to the library root; times the index records are ISO 8601
UTC text (`2026-12-01T19:30:00.123+00:00`); JSON columns hold exiftool-style JSON (`-n` values).
"""

from __future__ import annotations

PHOTO_STATUSES = ("present", "missing", "unreadable")
_V1_GPS_SOURCES = ("exif", "xmp", "location_shown", "location_created")
GPS_SOURCES = (*_V1_GPS_SOURCES, "estimate")
"""Where a photo's GPS came from; `estimate`: EXIF/XMP GPS marked as an estimate we wrote (since v4)."""
DECISIONS = ("known", "unknown", "error")
PROPOSAL_KINDS = ("landmark", "estimate")
PROPOSAL_STATUSES = ("proposed", "accepted", "rejected", "applied", "undone")
WRITE_ACTIONS = ("write", "undo")
WRITE_STATUSES = ("writing", "written", "failed")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _photos_table(name: str, gps_sources: tuple[str, ...]) -> str:
    return f"""
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest TEXT,
    status TEXT NOT NULL DEFAULT 'present' CHECK (status IN {_in(PHOTO_STATUSES)}),
    error TEXT,
    file_type TEXT,
    width INTEGER,
    height INTEGER,
    datetime_original TEXT,
    offset_time_original TEXT,
    taken_local_s REAL,
    taken_utc TEXT,
    taken_utc_s REAL,
    make TEXT,
    model TEXT,
    serial TEXT,
    gps_lat REAL,
    gps_lon REAL,
    gps_source TEXT CHECK (gps_source IS NULL OR gps_source IN {_in(gps_sources)}),
    gps_in_sidecar INTEGER NOT NULL DEFAULT 0,
    gps_error_m REAL,
    sidecar TEXT,
    sidecar_size INTEGER,
    sidecar_mtime_ns INTEGER,
    first_seen TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    missing_since TEXT,
    CHECK ((gps_lat IS NULL) = (gps_lon IS NULL))
)
"""


_PHOTO_INDEXES = """
CREATE INDEX photos_digest ON photos (digest);
CREATE INDEX photos_camera_time ON photos (make, model, serial, taken_local_s);
CREATE INDEX photos_taken_utc ON photos (taken_utc_s)
"""

_V1_PHOTOS = f"""
CREATE TABLE library (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
{_photos_table("photos", _V1_GPS_SOURCES)};
{_PHOTO_INDEXES};
CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    recursive INTEGER NOT NULL,
    new INTEGER NOT NULL,
    changed INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    renamed INTEGER NOT NULL,
    unreadable INTEGER NOT NULL,
    seconds REAL NOT NULL
)
"""

_V2_PREDICTIONS = f"""
CREATE TABLE predictions (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    gallery_id TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN {_in(DECISIONS)}),
    landmark TEXT,
    score REAL,
    threshold REAL,
    top_k TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created TEXT NOT NULL,
    UNIQUE (photo_id, model_id, gallery_id, digest)
);
CREATE INDEX predictions_model ON predictions (model_id, gallery_id)
"""

_V3_PROPOSALS_WRITES = f"""
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN {_in(PROPOSAL_KINDS)}),
    prediction_id INTEGER REFERENCES predictions (id) ON DELETE SET NULL,
    anchor_photo_id INTEGER REFERENCES photos (id) ON DELETE SET NULL,
    anchor2_photo_id INTEGER REFERENCES photos (id) ON DELETE SET NULL,
    digest TEXT NOT NULL,
    landmark TEXT,
    latitude REAL NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude REAL NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    radius_km REAL,
    city TEXT,
    country TEXT,
    confidence REAL,
    detail TEXT NOT NULL DEFAULT '{{}}',
    status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN {_in(PROPOSAL_STATUSES)}),
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    CHECK (kind = 'landmark' OR anchor_photo_id IS NOT NULL)
);
CREATE UNIQUE INDEX proposals_one_open ON proposals (photo_id) WHERE status IN ('proposed', 'accepted');
CREATE INDEX proposals_status ON proposals (status, kind);
CREATE TABLE writes (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    proposal_id INTEGER REFERENCES proposals (id) ON DELETE SET NULL,
    action TEXT NOT NULL CHECK (action IN {_in(WRITE_ACTIONS)}),
    target TEXT NOT NULL,
    created_target INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL,
    previous TEXT NOT NULL,
    digest_before TEXT,
    digest_after TEXT,
    status TEXT NOT NULL DEFAULT 'writing' CHECK (status IN {_in(WRITE_STATUSES)}),
    detail TEXT,
    started TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX writes_photo ON writes (photo_id, status)
"""

# SQLite cannot change a CHECK in place: the table is rebuilt (ids kept, so every reference holds),
# with foreign keys off while it runs (`db.migrate`), else dropping the old table would cascade.
# A photo whose last applied proposal is an estimate holds that estimate as its GPS.
_V4_GPS_ESTIMATE = f"""
{_photos_table("photos_v4", GPS_SOURCES)};
INSERT INTO photos_v4 SELECT * FROM photos;
DROP TABLE photos;
ALTER TABLE photos_v4 RENAME TO photos;
{_PHOTO_INDEXES};
UPDATE photos SET gps_source = 'estimate'
WHERE gps_lat IS NOT NULL AND gps_source IN ('exif', 'xmp') AND id IN (
    SELECT p.photo_id FROM proposals p
    WHERE p.id = (SELECT MAX(id) FROM proposals WHERE photo_id = p.photo_id AND status = 'applied')
      AND p.kind = 'estimate'
)
"""

MIGRATIONS: tuple[str, ...] = (_V1_PHOTOS, _V2_PREDICTIONS, _V3_PROPOSALS_WRITES, _V4_GPS_ESTIMATE)
"""Index i holds the SQL that takes a database from version i to version i + 1."""

CURRENT_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """One migration's statements (they hold no `;` inside literals or triggers)."""
    return [s.strip() for s in script.split(";") if s.strip()]
