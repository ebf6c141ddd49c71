"""`landmarks geotag DIR --estimate-nearby` through the console: plan, review, apply, undo estimates alone.

Capture times and cameras are written by exiftool; the model is a fake that answers by file name
(the tiny real model cannot be told which synthetic photo is "everyday").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from geotag_helpers import EIFFEL, FakePredictor, exiftool_json, exiftool_run, location_of, make_photo

from landmarks.cli import main
from landmarks.geotag.apply import apply_proposals
from landmarks.geotag.metadata import WriteMode
from landmarks.library.db import open_library
from landmarks.library.nearby import plan_estimates
from landmarks.library.records import set_proposal_status
from landmarks.library.scan import scan_library
from landmarks.library.stats import located_photos

CAMERA = ("-EXIF:Make=Canon", "-EXIF:Model=EOS 5D", "-ExifIFD:SerialNumber=42")
PHOTOS = {
    "tower.jpg": ("10:00:00", (EIFFEL, 0.95)),  # the landmark photo: the anchor
    "lunch.jpg": ("10:12:00", (None, 0.2)),  # not a landmark: estimated from the tower
    "street.jpg": ("10:50:00", (None, 0.1)),  # 50 min later: outside the window
    "undated.jpg": (None, (None, 0.1)),  # no capture time: never estimated
}


@pytest.fixture
def trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from landmarks.inference import predictor as predictor_module

    root = tmp_path / "trip"
    for i, (name, (clock, _)) in enumerate(PHOTOS.items()):
        make_photo(root / name, seed=i)
        when = (f"-EXIF:DateTimeOriginal=2023:07:14 {clock}", "-EXIF:OffsetTimeOriginal=+02:00") if clock else ()
        exiftool_run("-overwrite_original", *CAMERA, *when, str(root / name))
    fake = FakePredictor({name: answer for name, (_, answer) in PHOTOS.items()}, threshold=0.5)
    monkeypatch.setattr(predictor_module.Predictor, "load", staticmethod(lambda *a, **k: fake))
    (tmp_path / "m.pt").write_bytes(b"a model")
    return root


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["landmarks", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_plan_review_apply_and_undo_estimates_alone(
    trip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--db", tmp_path / "i.sqlite")
    plan, reasons = tmp_path / "plan.csv", tmp_path / "estimates.csv"
    code, out, err = _run(monkeypatch, capsys, "geotag", trip, "--checkpoint", tmp_path / "m.pt", *common,
                          "--plan", "--plan-csv", plan, "--estimate-nearby", "--estimate-report", reasons)  # fmt: skip
    assert code == 0, err
    assert "estimated 1 of 3 photos" in out
    lines = {r["path"]: r for r in csv.DictReader(plan.open())}
    assert set(lines) == {"tower.jpg", "lunch.jpg"}
    lunch = lines["lunch.jpg"]
    assert lunch["kind"] == "estimate" and lunch["anchor"] == "tower.jpg" and lunch["city"] == "Paris"
    assert float(lunch["radius_km"]) == pytest.approx(0.2 + 5 * 12 / 60)
    why = {r["path"]: (r["outcome"], r["reason"], r["detail"]) for r in csv.DictReader(reasons.open())}
    assert why["lunch.jpg"][:2] == ("proposed", "estimate") and "12 min after" in why["lunch.jpg"][2]
    assert why["street.jpg"][:2] == ("skipped", "no_anchor_in_window")
    assert why["undated.jpg"][:2] == ("skipped", "no_capture_time")
    assert why["tower.jpg"][:2] == ("anchor", "landmark")

    rows = list(csv.DictReader(plan.open()))
    for row in rows:
        row["accept"] = "yes"
    with plan.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = _run(monkeypatch, capsys, "geotag", "apply", trip, "--plan", plan, *common,
                          "--report", tmp_path / "r.csv")  # fmt: skip
    assert code == 0, err
    tags = exiftool_json(trip / "lunch.jpg")  # read back by exiftool, not by our code
    assert tags["GPS:GPSHPositioningError"] == pytest.approx(1200)
    assert tags["GPS:GPSProcessingMethod"] == "landmarks estimate"
    assert location_of(trip / "lunch.jpg") == pytest.approx((EIFFEL[1], EIFFEL[2]), abs=1e-5)

    # planning again: the written estimate is not estimated again, and does not anchor anything
    code, out, err = _run(monkeypatch, capsys, "geotag", trip, "--checkpoint", tmp_path / "m.pt", *common,
                          "--plan", "--plan-csv", plan, "--estimate-nearby", "--estimate-report", reasons)  # fmt: skip
    assert code == 0, err
    why = {r["path"]: r["reason"] for r in csv.DictReader(reasons.open())}
    assert why["lunch.jpg"] == "already_estimated" and why["street.jpg"] == "no_anchor_in_window"

    code, out, err = _run(monkeypatch, capsys, "geotag", "undo", trip, "--kind", "estimate", *common)
    assert code == 0, err
    assert location_of(trip / "lunch.jpg") is None and location_of(trip / "tower.jpg") is not None


def test_estimate_options_need_a_library_folder(
    trip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(monkeypatch, capsys, "geotag", trip / "lunch.jpg", "--estimate-nearby")
    assert code == 2 and "--estimate-nearby need one library folder" in err
    code, _, err = _run(monkeypatch, capsys, "geotag", trip, "--estimate-report", tmp_path / "e.csv")
    assert code == 2 and "--estimate-report goes with --estimate-nearby" in err
    code, _, err = _run(monkeypatch, capsys, "geotag", trip, "--estimate-nearby", "--speed-kmh", "0")
    assert code == 2
    code, _, err = _run(monkeypatch, capsys, "geotag", trip, "--estimate-nearby", "--same-camera", "--any-camera")
    assert code == 2 and "--same-camera and --any-camera exclude each other" in err


@pytest.mark.parametrize("write", [WriteMode.EXIF, WriteMode.XMP])
def test_a_rebuilt_index_knows_a_written_estimate_and_anchors_nothing_on_it(tmp_path: Path, write: WriteMode) -> None:
    root, index = tmp_path / "trip", tmp_path / "i.sqlite"
    clocks = {"tower.jpg": "10:00:00", "lunch.jpg": "10:12:00", "coffee.jpg": "10:40:00"}  # coffee: 40 min after
    for i, (name, clock) in enumerate(clocks.items()):  # the tower, 28 min after lunch
        make_photo(root / name, seed=i)
        gps = ("-GPSLatitude=48.8583701", "-GPSLatitudeRef=N", "-GPSLongitude=2.2944813", "-GPSLongitudeRef=E")
        when = (f"-EXIF:DateTimeOriginal=2023:07:14 {clock}", "-EXIF:OffsetTimeOriginal=+02:00")
        exiftool_run("-overwrite_original", *CAMERA, *when, *(gps if name == "tower.jpg" else ()), str(root / name))

    def plan() -> dict[str, tuple[str, str]]:
        with open_library(root, index) as db:
            scan_library(root, db, progress=False)
            outcomes = plan_estimates(db).outcomes
            set_proposal_status(db, [o.proposal_id for o in outcomes if o.proposal_id is not None], "accepted")
            assert apply_proposals(db, write=write).written == sum(o.outcome == "proposed" for o in outcomes)
        return {o.path: (o.outcome, o.reason) for o in outcomes}

    assert plan() == {"tower.jpg": ("anchor", "gps"), "lunch.jpg": ("proposed", "estimate"),
                      "coffee.jpg": ("skipped", "no_anchor_in_window")}  # fmt: skip
    index.unlink()  # a new index: it knows the estimate only by the marker written with it
    for leftover in tmp_path.glob("i.sqlite*"):
        leftover.unlink()
    again = plan()
    assert again["lunch.jpg"] == ("skipped", "already_estimated")  # not estimated again, and no anchor
    assert again["coffee.jpg"] == ("skipped", "no_anchor_in_window")  # nothing placed from the estimate
    with open_library(root, index) as db:
        lunch = db.photo_by_path("lunch.jpg")
        assert lunch is not None and lunch.gps_source == "estimate" and lunch.gps_error_m == pytest.approx(1050)
        assert {r["path"]: r["located_by"] for r in located_photos(db)}["lunch.jpg"] == "estimate"
