"""A small scanned and planned library for the review view's tests (real files, real index, real exiftool).

Five photos: two recognised landmarks with high confidence, one with low confidence, an estimate
anchored on the first, and one that already has GPS. Proposals are written straight into the index
with the records API, as `landmarks geotag --plan` would.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geotag"))

from fastapi.testclient import TestClient
from geotag_helpers import EXIFTOOL, exiftool_json, exiftool_run, make_photo
from serve_helpers import FakePredictor

from landmarks.catalog import Landmark
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.records import add_proposal, begin_write, finish_write, proposals, record_prediction
from landmarks.library.scan import scan_library
from landmarks.serve.app import create_app
from landmarks.serve.review import ReviewLibrary
from landmarks.serve.settings import ServeSettings

__all__ = [
    "EXIFTOOL", "JSON", "LOCAL", "TOKEN", "Planned", "apply", "exiftool_json", "journal_applier", "located",
    "make_client", "outside_photo", "plan_library", "post",
]  # fmt: skip

TOKEN = "a-test-token-of-enough-length-0123456789"
LOCAL = "http://127.0.0.1:8000"
JSON = {"Content-Type": "application/json"}

EIFFEL = {"landmark": "Eiffel Tower", "latitude": 48.8584, "longitude": 2.2945, "city": "Paris", "country": "France"}
COLOSSEUM = {"landmark": "Colosseum", "latitude": 41.8902, "longitude": 12.4922, "city": "Rome", "country": "Italy"}
PETRA = {"landmark": "Petra", "latitude": 30.3285, "longitude": 35.4444, "city": "Wadi Musa", "country": "Jordan"}


@dataclass
class Planned:
    """The library's root, its index file, and the ids of what the tests look at."""

    root: Path
    db: Path
    photos: dict[str, int]
    proposals: dict[str, int]


def _top_k(first: dict[str, object], p: float, second: dict[str, object]) -> list[dict[str, object]]:
    return [
        {"rank": 1, "name": first["landmark"], "probability": p},
        {"rank": 2, "name": second["landmark"], "probability": round(1 - p, 3)},
    ]


PHOTOS = ("paris.jpg", "trip/rome.jpg", "trip/dim.jpg", "cafe.jpg", "gps.jpg")


def real_photos(shared: Path) -> dict[str, Path] | None:
    """Real photos for the library (../shared/data), when they are at hand: what the landmarks show."""
    proxy44, everyday = shared / "proxy44" / "test", shared / "everyday"
    if not proxy44.is_dir() or not everyday.is_dir():
        return None
    folders = ("eiffel_tower", "colosseum", "petra")
    picked = {name: sorted((proxy44 / f).glob("*.jpg"))[-2] for name, f in zip(PHOTOS, folders, strict=False)}
    picked["cafe.jpg"] = everyday / "n03297495_espresso_maker.jpg"
    picked["gps.jpg"] = sorted((proxy44 / "statue_of_liberty").glob("*.jpg"))[-2]
    return picked if all(p.is_file() for p in picked.values()) else None


def plan_library(root: Path, db: Path, *, sources: dict[str, Path] | None = None) -> Planned:
    """Make (or copy from `sources`), scan and plan the library at `root` with its index at `db`."""
    for seed, name in enumerate(PHOTOS, start=1):
        if sources is not None:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sources[name], root / name)
        else:
            make_photo(root / name, size=(320, 240), seed=seed)
    exiftool_run(
        "-overwrite_original", "-GPS:GPSLatitude=40.6892", "-GPS:GPSLatitudeRef=N",
        "-GPS:GPSLongitude=74.0445", "-GPS:GPSLongitudeRef=W", str(root / "gps.jpg"),
    )  # fmt: skip
    with open_library(root, db) as index:
        scan_library(root, index, progress=False)
        ids = {p.path: p.id for p in index.photos()}
        neighbours = [{"index": 0, "name": "Eiffel Tower", "similarity": 0.91}]
        proposals = {}
        for key, path, place, p, other in (
            ("paris", "paris.jpg", EIFFEL, 0.97, COLOSSEUM),
            ("rome", "trip/rome.jpg", COLOSSEUM, 0.93, EIFFEL),
            ("dim", "trip/dim.jpg", PETRA, 0.41, COLOSSEUM),
        ):
            pred = record_prediction(index, ids[path], model_id="m", decision="known", landmark=place["landmark"],
                                     score=p, threshold=0.5, top_k=_top_k(place, p, other))  # fmt: skip
            proposals[key] = add_proposal(index, ids[path], kind="landmark", radius_km=0.5, confidence=p,
                                          prediction_id=pred, detail={"neighbours": neighbours}, **place)  # fmt: skip
        proposals["cafe"] = add_proposal(
            index,
            ids["cafe.jpg"],
            kind="estimate",
            latitude=48.8570,
            longitude=2.2990,
            radius_km=1.5,
            anchor_photo_id=ids["paris.jpg"],
            city="Paris",
            country="France",
            detail={
                "method": "nearest",
                "gap_s": 720,
                "reason": "taken 12 minutes after paris.jpg",
                "anchor_landmark": "Eiffel Tower",
                "camera": {"make": "Canon", "model": "EOS 5D", "serial": None},
            },
        )  # fmt: skip  (as issue 12's estimates are: no confidence of their own)
    return Planned(root=root, db=db, photos=ids, proposals=proposals)


def located(path: Path) -> tuple[float, float] | None:
    """Signed EXIF coordinates as the exiftool binary reads them back."""
    tags = exiftool_json(path, "-Composite:GPSLatitude", "-Composite:GPSLongitude")
    if "Composite:GPSLatitude" not in tags:
        return None
    return tags["Composite:GPSLatitude"], tags["Composite:GPSLongitude"]


def outside_photo(path: Path) -> Path:
    """A photo outside every library root: what confinement must never read or write."""
    return make_photo(path, size=(320, 240), seed=9)


def journal_applier(calls: list[list[int]]) -> Any:
    """A writer that journals each proposal as written without touching the file (the real one is geotag's)."""

    def apply(db: LibraryDB, ids: Sequence[int], progress: Callable[[int], None]) -> dict[str, Any]:
        calls.append(list(ids))
        rows = {r.id: r for r in proposals(db, status="accepted")}
        for pid in ids:
            row = rows[pid]
            write = begin_write(db, row.photo_id, target=db.photo(row.photo_id).path, tags={}, previous={},
                                proposal_id=pid)  # fmt: skip
            finish_write(db, write, ok=True)
            progress(1)
        return {"written": len(ids)}

    return apply


def make_client(planned: Planned, calls: list[list[int]], base_url: str = LOCAL, **settings: Any) -> TestClient:
    library = ReviewLibrary(planned.root, planned.db, applier=journal_applier(calls), lock_timeout_s=0.2)
    app = create_app(FakePredictor([Landmark("eiffel", None, "Eiffel Tower")]), ServeSettings(**settings), library)
    return TestClient(app, base_url=base_url)


def post(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/api/v1/library/{path}", json=body, headers=headers)


def apply(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """Start an apply job and wait for it: its final state."""
    r = post(client, "apply", body)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while (state := client.get("/api/v1/library/job").json())["running"]:
        assert time.monotonic() < deadline, "the apply job did not finish"
        time.sleep(0.02)
    return state
