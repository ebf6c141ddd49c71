"""Predictions, proposals and the write journal; and what stats and the exports say about them."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from library_helpers import exiftool_run

from landmarks.data.decode import file_digest
from landmarks.errors import LibraryError
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.export import CSV_COLUMNS, export_csv, export_geojson
from landmarks.library.records import (
    add_proposal,
    begin_write,
    finish_write,
    needs_prediction,
    proposals,
    record_prediction,
    set_proposal_status,
    writes,
)
from landmarks.library.scan import scan_library
from landmarks.library.stats import library_stats


@pytest.fixture
def db(library: Path, tmp_path: Path) -> LibraryDB:
    with open_library(library, tmp_path / "index.sqlite") as handle:
        scan_library(library, handle, progress=False)
        yield handle


def _ids(db: LibraryDB, *paths: str) -> list[int]:
    return [db.photo_by_path(p).id for p in paths]


def test_needs_prediction_is_per_model_gallery_and_content(db: LibraryDB) -> None:
    everything = [p.path for p in needs_prediction(db, "m1", "g1")]
    assert len(everything) == 6 and "broken.jpg" not in everything
    for photo in db.photos():
        if photo.digest and photo.status == "present":
            record_prediction(db, photo.id, model_id="m1", gallery_id="g1", decision="unknown", score=0.2)
    assert needs_prediction(db, "m1", "g1") == []
    assert len(needs_prediction(db, "m2", "g1")) == 6  # a new model: everything again
    assert len(needs_prediction(db, "m1", "g2")) == 6  # a new gallery too
    (lunch,) = _ids(db, "lunch.jpg")
    record_prediction(db, lunch, model_id="m1", gallery_id="g1", decision="known", landmark="X", score=0.9)
    assert db.query("SELECT COUNT(*) FROM predictions WHERE photo_id = ?", (lunch,))[0][0] == 1  # replaced


def test_proposals_follow_their_lifecycle_and_one_is_open_per_photo(db: LibraryDB) -> None:
    paris, lunch = _ids(db, "paris.jpg", "lunch.jpg")
    with pytest.raises(ValueError, match="anchor"):
        add_proposal(db, lunch, kind="estimate", latitude=48.0, longitude=2.0)
    first = add_proposal(db, lunch, kind="landmark", latitude=1.0, longitude=1.0, landmark="Wrong")
    set_proposal_status(db, [first], "accepted")
    estimate = add_proposal(
        db, lunch, kind="estimate", latitude=48.86, longitude=2.29, radius_km=1.5, anchor_photo_id=paris,
        detail={"gap_s": 870},
    )  # fmt: skip
    (only,) = proposals(db, photo_id=lunch)  # planning again replaced the open one
    assert only.id == estimate and only.anchor_photo_id == paris and only.detail == {"gap_s": 870}
    assert only.digest == db.photo(lunch).digest and only.status == "proposed"
    set_proposal_status(db, [estimate], "rejected")
    with pytest.raises(LibraryError, match="cannot become applied"):
        set_proposal_status(db, [estimate], "applied")
    set_proposal_status(db, [estimate], "accepted")
    assert [p.id for p in proposals(db, status="accepted", kind="estimate")] == [estimate]


def test_a_journaled_write_updates_the_index_so_a_rescan_reads_nothing(db: LibraryDB) -> None:
    (lunch,) = _ids(db, "lunch.jpg")
    photo = db.photo(lunch)
    record_prediction(db, lunch, model_id="m1", decision="known", landmark="Eiffel Tower", score=0.9)
    proposal = add_proposal(db, lunch, kind="landmark", latitude=48.8584, longitude=2.2945, landmark="Eiffel Tower")
    set_proposal_status(db, [proposal], "accepted")
    write = begin_write(
        db, lunch, target="lunch.jpg", tags={"GPS:GPSLatitude": 48.8584}, previous={}, proposal_id=proposal
    )
    assert library_stats(db).interrupted_writes == 1 and writes(db, status="writing")[0].id == write

    target = db.abspath(photo)
    exiftool_run("-overwrite_original", "-GPS:GPSLatitude=48.8584", "-GPS:GPSLatitudeRef=N",
                 "-GPS:GPSLongitude=2.2945", "-GPS:GPSLongitudeRef=E", str(target))  # fmt: skip
    st = os.stat(target)
    finish_write(db, write, ok=True, stamp=(st.st_size, st.st_mtime_ns), digest=file_digest(target))

    (done,) = writes(db, photo_id=lunch)
    assert done.status == "written" and done.digest_before == photo.digest != done.digest_after
    assert proposals(db, photo_id=lunch)[0].status == "applied"
    assert lunch not in {p.id for p in needs_prediction(db, "m1")}
    summary = scan_library(db.root, db, progress=False)
    assert summary.unchanged == 7 and summary.hashed == 0 and summary.exiftool_calls == 0

    stats = library_stats(db)
    assert stats.located["landmark"] == 1 and stats.proposals == {"applied": 1} and stats.interrupted_writes == 0


def test_a_failed_write_leaves_the_proposal_accepted(db: LibraryDB) -> None:
    (lunch,) = _ids(db, "lunch.jpg")
    proposal = add_proposal(db, lunch, kind="landmark", latitude=1.0, longitude=2.0)
    set_proposal_status(db, [proposal], "accepted")
    write = begin_write(db, lunch, target="lunch.jpg", tags={}, previous={}, proposal_id=proposal)
    finish_write(db, write, ok=False, detail="the file is read-only")
    assert writes(db)[0].status == "failed" and proposals(db)[0].status == "accepted"
    assert db.photo(lunch).digest == writes(db)[0].digest_before


def test_stats_and_exports_say_what_is_located_and_by_what(db: LibraryDB, tmp_path: Path) -> None:
    paris, lunch, plain = _ids(db, "paris.jpg", "lunch.jpg", "trip/plain.jpg")
    landmark = add_proposal(db, plain, kind="landmark", latitude=41.89, longitude=12.49, landmark="Colosseum",
                            city="Rome", country="Italy", confidence=0.93)  # fmt: skip
    estimate = add_proposal(db, lunch, kind="estimate", latitude=48.86, longitude=2.29, radius_km=1.2,
                            anchor_photo_id=paris)  # fmt: skip
    for proposal in (landmark, estimate):
        set_proposal_status(db, [proposal], "accepted")
        finish_write(db, begin_write(db, db.query("SELECT photo_id FROM proposals WHERE id = ?", (proposal,))[0][0],
                                     target="x", tags={}, previous={}, proposal_id=proposal), ok=True)  # fmt: skip

    stats = library_stats(db)
    assert (stats.photos, stats.unreadable, stats.missing) == (7, 1, 0)
    assert stats.located == {"gps": 4, "landmark": 1, "estimate": 1, "none": 0}
    assert stats.with_capture_time == 3 and stats.with_utc_time == 2 and stats.cameras == 1
    assert stats.proposals == {"applied": 2} and stats.proposals_by_kind == {"estimate": 1, "landmark": 1}

    assert export_geojson(db, tmp_path / "map.geojson") == 6
    features = json.loads((tmp_path / "map.geojson").read_text())["features"]
    by_path = {f["properties"]["path"]: f for f in features}
    assert by_path["lunch.jpg"]["geometry"]["coordinates"] == [2.29, 48.86]
    assert by_path["lunch.jpg"]["properties"]["anchor"] == "paris.jpg"
    assert by_path["trip/plain.jpg"]["properties"]["located_by"] == "landmark"
    assert by_path["paris.jpg"]["properties"]["radius_km"] == 0.015

    assert export_csv(db, tmp_path / "photos.csv") == 6
    with open(tmp_path / "photos.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["path"]: r["located_by"] for r in rows} == {
        "lunch.jpg": "estimate", "paris.jpg": "gps", "trip/created.jpg": "gps", "trip/nyc.png": "gps",
        "trip/plain.jpg": "landmark", "trip/shown.jpg": "gps",
    }  # fmt: skip
    left = {name for name in os.listdir(tmp_path) if not name.startswith("index.sqlite")}
    assert left == {"library", "map.geojson", "outside", "photos.csv"}  # no temporaries left
