"""The batch run: one decision per photo, the CSV report, the GeoJSON map, sidecars, dry runs."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from geotag_helpers import (
    CHRIST,
    EIFFEL,
    LIBERTY,
    OPERA,
    FakePredictor,
    exiftool_json,
    exiftool_run,
    location_of,
    make_photo,
    sha256,
)

from landmarks.cli.inputs import expand_inputs
from landmarks.errors import BadImageError
from landmarks.geotag.batch import GeotagOptions, geotag
from landmarks.geotag.metadata import SidecarName, WriteMode, is_temp_file
from landmarks.geotag.report import COLUMNS, ReportError


def _rows(report: Path) -> dict[str, dict[str, str]]:
    with open(report, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return {Path(row["file"]).name: row for row in reader}


def _add_gps(photo: Path, lat: float, lon: float) -> None:
    lat_ref, lon_ref = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    exiftool_run(
        "-overwrite_original",
        "-n",
        f"-GPSLatitude={abs(lat)}",
        f"-GPSLatitudeRef={lat_ref}",
        f"-GPSLongitude={abs(lon)}",
        f"-GPSLongitudeRef={lon_ref}",
        "-GPSAltitude=35",
        str(photo),
    )


def test_every_photo_gets_one_decision(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    confident = make_photo(folder / "eiffel.jpg", seed=1)
    southwest = make_photo(folder / "rio.png", seed=2)
    doubtful = make_photo(folder / "doubtful.jpg", seed=3)
    unmapped = make_photo(folder / "unmapped.jpg", seed=4)
    located = make_photo(folder / "located.jpg", seed=5)
    _add_gps(located, 51.5007, -0.1246)
    locked = make_photo(folder / "locked.jpg", seed=6)
    os.chmod(locked, 0o444)
    text = folder / "notes.jpg"
    text.write_text("not a photo")
    truncated = make_photo(folder / "truncated.jpg", seed=8)
    truncated.write_bytes(truncated.read_bytes()[:400])
    untouched = {p: sha256(p) for p in (doubtful, unmapped, located, locked, text, truncated)}

    predictor = FakePredictor(
        {
            "eiffel.jpg": (EIFFEL, 0.91),
            "rio.png": (CHRIST, 0.77),
            "doubtful.jpg": (LIBERTY, 0.31),
            "unmapped.jpg": (None, 0.95),
            "truncated.jpg": BadImageError("truncated.jpg: cannot read the image (truncated)"),
        }
    )
    report, geojson = tmp_path / "out" / "report.csv", tmp_path / "out" / "map.geojson"
    photos, problems = expand_inputs([folder])
    assert problems == []
    summary = geotag(photos, predictor, report, geojson=geojson)

    rows = _rows(report)
    assert {name: row["action"] for name, row in rows.items()} == {
        "eiffel.jpg": "written",
        "rio.png": "written",
        "doubtful.jpg": "skipped: low confidence",
        "unmapped.jpg": "skipped: no coordinates",
        "located.jpg": "skipped: has GPS",
        "locked.jpg": "skipped: read-only",
        "notes.jpg": "skipped: unreadable",
        "truncated.jpg": "skipped: unreadable",
    }
    assert list(rows) == sorted(rows)  # the final report is in input order (folders are sorted)
    assert summary.ok and summary.counts["written"] == 2
    # settled from metadata alone: never sent to the model
    assert predictor.asked == {"eiffel.jpg", "rio.png", "doubtful.jpg", "unmapped.jpg", "truncated.jpg"}

    assert rows["eiffel.jpg"]["landmark"] == "Eiffel Tower"
    assert float(rows["eiffel.jpg"]["confidence"]) == pytest.approx(0.91)
    assert rows["doubtful.jpg"]["landmark"] == "Statue of Liberty"
    assert "truncated" in rows["truncated.jpg"]["detail"]
    assert "TXT" in rows["notes.jpg"]["detail"]
    assert location_of(confident) == (pytest.approx(EIFFEL[1], abs=1e-5), pytest.approx(EIFFEL[2], abs=1e-5))
    assert location_of(southwest) == (pytest.approx(CHRIST[1], abs=1e-5), pytest.approx(CHRIST[2], abs=1e-5))
    for photo, digest in untouched.items():
        assert sha256(photo) == digest, photo.name
    assert os.stat(locked).st_mode & 0o777 == 0o444
    assert not [p for p in folder.iterdir() if is_temp_file(p)]

    features = json.loads(geojson.read_text())
    assert features["type"] == "FeatureCollection"
    points = {Path(f["properties"]["file"]).name: f for f in features["features"]}
    assert set(points) == {"eiffel.jpg", "rio.png", "located.jpg"}
    assert points["rio.png"]["geometry"] == {"type": "Point", "coordinates": [CHRIST[2], CHRIST[1]]}
    assert points["rio.png"]["properties"]["landmark"] == "Christ the Redeemer"
    assert points["rio.png"]["properties"]["action"] == "written"
    assert points["located.jpg"]["geometry"]["coordinates"] == [
        pytest.approx(-0.1246),
        pytest.approx(51.5007),
    ]


def test_min_confidence_defaults_to_the_checkpoint_threshold(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "opera.jpg")
    predictor = FakePredictor({"opera.jpg": (OPERA, 0.6)}, threshold=0.7)
    geotag([photo], predictor, tmp_path / "a.csv")
    assert _rows(tmp_path / "a.csv")["opera.jpg"]["action"] == "skipped: low confidence"
    assert location_of(photo) is None

    geotag([photo], predictor, tmp_path / "b.csv", options=GeotagOptions(min_confidence=0.55))
    assert _rows(tmp_path / "b.csv")["opera.jpg"]["action"] == "written"
    assert location_of(photo) == (pytest.approx(OPERA[1], abs=1e-5), pytest.approx(OPERA[2], abs=1e-5))


def test_dry_run_writes_nothing_but_the_report(tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / "p" / f"{i}.jpg", seed=i) for i in range(3)]
    before = {p: (sha256(p), os.stat(p).st_mtime_ns) for p in photos}
    predictor = FakePredictor({"0.jpg": (EIFFEL, 0.9), "1.jpg": (OPERA, 0.2), "2.jpg": (LIBERTY, 0.8)})
    summary = geotag(photos, predictor, tmp_path / "r.csv", options=GeotagOptions(dry_run=True))
    assert [r.action for r in summary.results] == ["would write", "skipped: low confidence", "would write"]
    assert {p: (sha256(p), os.stat(p).st_mtime_ns) for p in photos} == before
    assert sorted(os.listdir(tmp_path / "p")) == ["0.jpg", "1.jpg", "2.jpg"]


def test_gps_is_kept_unless_overwrite_is_asked(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    _add_gps(photo, -10.0, -20.0)
    predictor = FakePredictor({"photo.jpg": (EIFFEL, 0.99)})
    geotag([photo], predictor, tmp_path / "a.csv")
    assert location_of(photo) == (pytest.approx(-10.0), pytest.approx(-20.0))
    assert predictor.calls == []

    geotag([photo], predictor, tmp_path / "b.csv", options=GeotagOptions(overwrite_gps=True))
    tags = exiftool_json(photo)
    assert (tags["Composite:GPSLatitude"], tags["Composite:GPSLongitude"]) == (
        pytest.approx(EIFFEL[1], abs=1e-5),
        pytest.approx(EIFFEL[2], abs=1e-5),
    )
    assert "GPS:GPSAltitude" not in tags  # a new position replaces the old GPS block, no mixing
    row = _rows(tmp_path / "b.csv")["photo.jpg"]
    previous = json.loads(row["previous"])
    assert previous["GPS:GPSLatitudeRef"] == "S" and previous["GPS:GPSAltitude"] == 35


def test_many_chunks_each_photo_its_own_landmark(tmp_path: Path) -> None:
    landmarks = [EIFFEL, LIBERTY, OPERA, CHRIST]
    photos = [make_photo(tmp_path / f"{i:02d}.jpg", seed=i) for i in range(10)]
    answers = {p.name: (landmarks[i % 4], 0.9) for i, p in enumerate(photos)}
    predictor = FakePredictor(answers)
    done: list[int] = []
    summary = geotag(photos, predictor, tmp_path / "r.csv", options=GeotagOptions(chunk_size=4), progress=done.append)
    assert [len(c) for c in predictor.calls] == [4, 4, 2]
    assert sum(done) == 10
    assert summary.counts == {"written": 10}
    for i, photo in enumerate(photos):
        lm = landmarks[i % 4]
        assert location_of(photo) == (pytest.approx(lm[1], abs=1e-5), pytest.approx(lm[2], abs=1e-5))


def test_xmp_sidecars_leave_the_photo_untouched(tmp_path: Path) -> None:
    jpg = make_photo(tmp_path / "a.jpg", seed=1)
    png = make_photo(tmp_path / "b.png", seed=2)
    digests = {jpg: sha256(jpg), png: sha256(png)}
    predictor = FakePredictor({"a.jpg": (OPERA, 0.9), "b.png": (LIBERTY, 0.9)})
    geotag([jpg, png], predictor, tmp_path / "r.csv", options=GeotagOptions(write=WriteMode.XMP))
    assert {p: sha256(p) for p in digests} == digests
    assert location_of(tmp_path / "a.jpg.xmp") == (
        pytest.approx(OPERA[1], abs=1e-5),
        pytest.approx(OPERA[2], abs=1e-5),
    )
    assert exiftool_json(tmp_path / "b.png.xmp")["XMP-iptcExt:LocationShown"][0]["City"] == "New York"
    rows = _rows(tmp_path / "r.csv")
    assert rows["a.jpg"]["target"] == str(tmp_path / "a.jpg.xmp") and rows["a.jpg"]["created"] == "true"

    # Lightroom naming; photo.jpg and photo.png would share photo.xmp: the second is refused
    one, two = (
        make_photo(tmp_path / "c" / "photo.jpg", seed=3),
        make_photo(tmp_path / "c" / "photo.png", seed=4),
    )
    predictor = FakePredictor({"photo.jpg": (EIFFEL, 0.9), "photo.png": (CHRIST, 0.9)})
    options = GeotagOptions(write=WriteMode.XMP, sidecar_name=SidecarName.REPLACE)
    summary = geotag([one, two], predictor, tmp_path / "s.csv", options=options)
    assert [r.action for r in summary.results] == ["written", "failed"]
    assert "photo.xmp" in summary.results[1].detail
    assert location_of(tmp_path / "c" / "photo.xmp") == (
        pytest.approx(EIFFEL[1], abs=1e-5),
        pytest.approx(EIFFEL[2], abs=1e-5),
    )


def test_existing_sidecar_is_updated_in_place_or_counts_as_gps(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    sidecar = tmp_path / "photo.jpg.xmp"
    exiftool_run("-XMP-dc:Subject=keep me", "-XMP-xmp:Rating=5", "-o", str(sidecar))
    predictor = FakePredictor({"photo.jpg": (CHRIST, 0.9)})
    summary = geotag([photo], predictor, tmp_path / "a.csv", options=GeotagOptions(write=WriteMode.XMP))
    assert summary.results[0].action == "written" and not summary.results[0].created
    tags = exiftool_json(sidecar)
    # their keyword kept, the place's added after it (--tags is on by default for sidecars)
    assert tags["XMP-dc:Subject"] == ["keep me", "Christ the Redeemer", "Rio de Janeiro", "Brazil"]
    assert tags["XMP-xmp:Rating"] == 5
    assert (tags["XMP-exif:GPSLatitude"], tags["XMP-exif:GPSLongitude"]) == (
        pytest.approx(CHRIST[1], abs=1e-5),
        pytest.approx(CHRIST[2], abs=1e-5),
    )
    # the sidecar now has GPS: a second run leaves it alone
    summary = geotag([photo], predictor, tmp_path / "b.csv", options=GeotagOptions(write=WriteMode.XMP))
    assert summary.results[0].action == "skipped: has GPS"


def test_nothing_worked(tmp_path: Path) -> None:
    bad = [tmp_path / "a.jpg", tmp_path / "b.png"]
    for p in bad:
        p.write_bytes(b"\x00" * 10)
    summary = geotag(bad, FakePredictor({}), tmp_path / "r.csv")
    assert not summary.ok
    assert {r.action for r in summary.results} == {"skipped: unreadable"}


def test_expand_inputs(tmp_path: Path) -> None:
    top = make_photo(tmp_path / "A.JPG")
    nested = make_photo(tmp_path / "sub" / "b.Png")
    (tmp_path / "notes.txt").write_text("x")
    make_photo(tmp_path / ".hidden.jpg")
    make_photo(tmp_path / ".cache" / "c.jpg")

    photos, problems = expand_inputs([tmp_path])
    assert photos == [top] and problems == []
    photos, _ = expand_inputs([tmp_path], recursive=True)
    assert photos == [top, nested]
    photos, _ = expand_inputs([str(tmp_path / "*.jpg"), top])  # glob, case-insensitive suffix, duplicate
    assert photos == [top]
    photos, problems = expand_inputs([tmp_path / "missing.jpg", tmp_path / "sub" / "*.gif", nested])
    assert photos == [nested]
    assert len(problems) == 2 and "no such file" in problems[0] and "no photos match" in problems[1]


def test_awkward_file_names_round_trip(tmp_path: Path) -> None:
    names = [os.fsdecode(b"caf\xe9 latin-1.jpg"), "ü ñ 100% %d.jpg", "-starts-with-dash.jpg", "x.JPEG"]
    photos = [make_photo(tmp_path / name, seed=i) for i, name in enumerate(names)]
    digests = [sha256(p) for p in photos]
    predictor = FakePredictor({name: (OPERA, 0.9) for name in names})
    report, geojson = tmp_path / "r.csv", tmp_path / "m.geojson"
    summary = geotag(photos, predictor, report, geojson=geojson)
    assert summary.counts == {"written": len(names)}
    for photo in photos:
        assert location_of(photo) == (pytest.approx(OPERA[1], abs=1e-5), pytest.approx(OPERA[2], abs=1e-5))
    assert sorted(Path(f["properties"]["file"]).name for f in json.loads(geojson.read_text())["features"]) == sorted(
        names
    )

    from landmarks.geotag.undo import undo

    assert undo(report).counts == {"restored": len(names)}
    assert [sha256(p) for p in photos] == digests


def test_a_report_that_undo_needs_is_never_overwritten(tmp_path: Path) -> None:
    first, second = make_photo(tmp_path / "first.jpg", seed=1), make_photo(tmp_path / "second.jpg", seed=2)
    predictor = FakePredictor({"first.jpg": (EIFFEL, 0.9), "second.jpg": (OPERA, 0.9)})
    report = tmp_path / "report.csv"
    geotag([first], predictor, report)
    journal, digest = report.read_bytes(), sha256(second)
    with pytest.raises(ReportError, match="records 1 written photos"):
        geotag([second], predictor, report)
    assert report.read_bytes() == journal and sha256(second) == digest

    notes = tmp_path / "notes.csv"
    notes.write_text("my,own\n1,2\n")
    with pytest.raises(ReportError, match="not a geotag report"):
        geotag([second], predictor, notes)
    assert notes.read_text() == "my,own\n1,2\n" and sha256(second) == digest

    dry = tmp_path / "dry.csv"  # a report with nothing to undo may be replaced
    geotag([second], predictor, dry, options=GeotagOptions(dry_run=True))
    geotag([second], predictor, dry)
    assert _rows(dry)["second.jpg"]["action"] == "written"
