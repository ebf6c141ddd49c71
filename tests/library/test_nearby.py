"""Planning estimates in a scanned index: anchors from GPS and landmark proposals, repeatable plans."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from library_helpers import tagged_photo

from landmarks.cli import main
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.nearby import plan_estimates
from landmarks.library.records import add_proposal, proposals, set_proposal_status
from landmarks.library.scan import scan_library

CAMERA = ("-EXIF:Make=Canon", "-EXIF:Model=EOS 5D", "-ExifIFD:SerialNumber=42")
PHONE = ("-EXIF:Make=Apple", "-EXIF:Model=iPhone 12")


def _when(clock: str, offset: str | None = "+02:00") -> tuple[str, ...]:
    return (f"-EXIF:DateTimeOriginal=2023:07:14 {clock}",) + ((f"-EXIF:OffsetTimeOriginal={offset}",) if offset else ())


def _gps(lat: float, lon: float, error_m: float | None = None) -> tuple[str, ...]:
    tags = (f"-GPS:GPSLatitude={abs(lat)}", "-GPS:GPSLatitudeRef=" + ("N" if lat >= 0 else "S"),
            f"-GPS:GPSLongitude={abs(lon)}", "-GPS:GPSLongitudeRef=" + ("E" if lon >= 0 else "W"))  # fmt: skip
    return tags + ((f"-GPS:GPSHPositioningError={error_m}",) if error_m is not None else ())


@pytest.fixture
def trip(tmp_path: Path) -> Path:
    """Seven photos of two cameras: a landmark photo, its neighbours in time, a phone with GPS, no-time."""
    root = tmp_path / "trip"
    photos = {
        "a_tower.jpg": CAMERA + _when("10:00:00"),  # the landmark photo
        "b_lunch.jpg": CAMERA + _when("10:10:00"),
        "c_street.jpg": CAMERA + _when("10:50:00"),  # 50 min later: out of the window
        "d_phone_gps.jpg": PHONE + _when("12:00:00") + _gps(40.6892, -74.0445, 10),
        "e_phone.jpg": PHONE + _when("12:05:00"),
        "f_no_time.jpg": CAMERA,
        "g_shown.jpg": PHONE + _when("12:06:00") + ("-XMP-iptcExt:LocationShown={GPSLatitude=1,GPSLongitude=2}",),
    }
    for i, (name, tags) in enumerate(photos.items()):
        tagged_photo(root / name, *tags, seed=i)
    return root


def _tower(handle: LibraryDB) -> None:
    tower = handle.photo_by_path("a_tower.jpg")
    add_proposal(handle, tower.id, kind="landmark", latitude=48.8584, longitude=2.2945, radius_km=0.2,
                 landmark="Eiffel Tower", city="Paris", country="France", confidence=0.93)  # fmt: skip


@pytest.fixture
def db(trip: Path, tmp_path: Path) -> LibraryDB:
    with open_library(trip, tmp_path / "index.sqlite") as handle:
        scan_library(trip, handle, progress=False)
        _tower(handle)
        yield handle


def _lines(plan) -> dict[str, tuple[str, str]]:
    return {o.path: (o.outcome, o.reason) for o in plan.outcomes}


def test_plan_proposes_estimates_with_their_anchor_and_says_why_not_for_the_rest(db: LibraryDB) -> None:
    plan = plan_estimates(db)
    assert _lines(plan) == {
        "a_tower.jpg": ("anchor", "landmark"),
        "b_lunch.jpg": ("proposed", "estimate"),
        "c_street.jpg": ("skipped", "no_anchor_in_window"),
        "d_phone_gps.jpg": ("anchor", "gps"),
        "e_phone.jpg": ("proposed", "estimate"),
        "f_no_time.jpg": ("skipped", "no_capture_time"),
        "g_shown.jpg": ("skipped", "has_location"),  # a place shown is not where the camera was
    }
    lunch, phone = (proposals(db, kind="estimate", photo_id=db.photo_by_path(p).id)[0]
                    for p in ("b_lunch.jpg", "e_phone.jpg"))  # fmt: skip
    assert lunch.anchor_photo_id == db.photo_by_path("a_tower.jpg").id and lunch.status == "proposed"
    assert (lunch.latitude, lunch.longitude, lunch.city, lunch.confidence) == (48.8584, 2.2945, "Paris", 0.93)
    assert lunch.radius_km == pytest.approx(0.2 + 5 * 10 / 60)
    assert lunch.detail["anchor_path"] == "a_tower.jpg" and "10 min after" in lunch.detail["reason"]
    assert phone.anchor_photo_id == db.photo_by_path("d_phone_gps.jpg").id
    assert phone.radius_km == pytest.approx(0.01 + 5 * 5 / 60) and phone.detail["anchor_source"] == "gps"
    assert phone.confidence is None and phone.detail["camera"] == {
        "make": "Apple",
        "model": "iPhone 12",
        "serial": None,
    }


def test_planning_again_keeps_reviewed_estimates_and_withdraws_unsupported_ones(db: LibraryDB) -> None:
    first = {o.path: o for o in plan_estimates(db).outcomes}
    set_proposal_status(db, [first["b_lunch.jpg"].proposal_id], "accepted")
    set_proposal_status(db, [first["e_phone.jpg"].proposal_id], "rejected")
    again = plan_estimates(db)
    assert _lines(again)["b_lunch.jpg"] == ("kept", "estimate")
    assert _lines(again)["e_phone.jpg"] == ("skipped", "rejected_before")
    assert proposals(db, kind="estimate", status="accepted")[0].id == first["b_lunch.jpg"].proposal_id
    # the landmark is rejected in review: the estimate it anchored goes with it
    tower = proposals(db, kind="landmark")[0]
    set_proposal_status(db, [tower.id], "rejected")
    third = plan_estimates(db)
    assert _lines(third)["b_lunch.jpg"] == ("withdrawn", "no_anchor_in_window")
    assert proposals(db, kind="estimate", status="accepted") == []


def test_library_estimate_command_writes_proposals_and_a_report(
    trip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    index, report = tmp_path / "i.sqlite", tmp_path / "out" / "estimates.csv"

    def run(*args: object) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["landmarks", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        return int(exit_info.value.code or 0), captured.out + captured.err

    assert run("library", "scan", trip, "--db", index, "-q")[0] == 0
    with open_library(trip, index) as handle:
        _tower(handle)
    code, out = run("library", "estimate", trip, "--db", index, "--window", "5", "--report", report)
    assert (
        code == 0 and "estimated 1 of 4 photos without a location of their own (2 anchors)" in out
    )  # only the phone: its GPS photo is 5 min away
    rows = {r["path"]: r for r in csv.DictReader(report.open())}
    assert rows["e_phone.jpg"]["outcome"] == "proposed" and rows["e_phone.jpg"]["anchor"] == "d_phone_gps.jpg"
    assert rows["b_lunch.jpg"]["reason"] == "no_anchor_in_window" and "within 5 min" in rows["b_lunch.jpg"]["detail"]
    code, out = run("library", "estimate", trip, "--db", index, "--speed-kmh", "60", "--max-radius-km", "2")
    assert code == 0 and "skipped: radius_too_large" in out and "withdrawn" in out
    assert run("library", "estimate", trip, "--db", index, "--speed-kmh", "0")[0] == 2
    code, out = run("library", "estimate", trip, "--db", index, "--same-camera", "--any-camera")
    assert code == 2 and "exclude each other" in out
    for flags in (["--same-camera"], ["--any-camera"], ["--together-hours", "2"]):
        assert run("library", "estimate", trip, "--db", index, *flags)[0] == 0
    assert run("library", "estimate", trip, "--db", index, "--together-hours", "0")[0] == 2
    code, out = run("library", "estimate", trip, "--db", index, "--report", tmp_path)  # a folder: refused first
    assert code == 1 and "cannot write" in out and "Traceback" not in out
