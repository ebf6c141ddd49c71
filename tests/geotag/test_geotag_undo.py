"""`--undo REPORT.csv`: what a run wrote is taken back exactly, and nothing else is touched."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from geotag_helpers import (
    CHRIST,
    EIFFEL,
    OPERA,
    FakePredictor,
    exiftool_json,
    exiftool_run,
    jpeg_scan_data,
    location_of,
    make_photo,
    other_tags,
    pixels,
    sha256,
)

from landmarks.geotag.batch import GeotagOptions, geotag
from landmarks.geotag.metadata import WriteMode
from landmarks.geotag.report import ReportError
from landmarks.geotag.undo import undo


def _state(path: Path) -> tuple[str, int, int]:
    st = os.stat(path)
    return sha256(path), st.st_mode, st.st_mtime_ns


def _tags(path: Path, ignore: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in exiftool_json(path).items() if not k.startswith(("System:", *ignore))}


def test_undo_restores_every_byte(rich_jpeg: Path, tmp_path: Path) -> None:
    folder = rich_jpeg.parent
    plain = make_photo(folder / "plain.jpg", seed=1)  # no EXIF at all
    png = make_photo(folder / "plain.png", seed=2)
    webp = make_photo(folder / "plain.webp", seed=3)
    heic = make_photo(folder / "plain.heic", seed=4)
    os.chmod(png, 0o600)
    photos = [rich_jpeg, plain, png, webp, heic]
    before = {p: _state(p) for p in photos}
    tags_before = {p: _tags(p) for p in photos}
    scan_before, heic_pixels = jpeg_scan_data(rich_jpeg), pixels(heic)

    answers = {
        "rich.jpg": OPERA,
        "plain.jpg": CHRIST,
        "plain.png": EIFFEL,
        "plain.webp": CHRIST,
        "plain.heic": OPERA,
    }
    report = tmp_path / "report.csv"
    summary = geotag(photos, FakePredictor({k: (v, 0.9) for k, v in answers.items()}), report)
    assert summary.counts == {"written": 5}
    assert all(_state(p)[0] != before[p][0] for p in photos)

    result = undo(report)
    assert result.counts == {"restored": 5}
    for photo in (rich_jpeg, plain, png, webp):
        assert _state(photo) == before[photo], photo.name
    assert jpeg_scan_data(rich_jpeg) == scan_before
    # HEIC: exiftool keeps the emptied metadata boxes, so only where the image data starts moves
    assert _state(heic)[1:] == before[heic][1:]
    assert _tags(heic, ("QuickTime:MediaDataOffset",)) == {
        k: v for k, v in tags_before[heic].items() if k != "QuickTime:MediaDataOffset"
    }
    assert (pixels(heic) == heic_pixels).all()

    again = undo(report)  # nothing of ours is left: a second undo changes nothing
    assert again.counts == {"skipped: already undone": 5}
    assert again.ok
    assert {p: _tags(p) for p in photos if p != heic} == {p: t for p, t in tags_before.items() if p != heic}


def test_undo_puts_overwritten_gps_back(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    exiftool_run("-overwrite_original", "-n", "-GPSLatitude=10.123456789", "-GPSLatitudeRef=S",
                 "-GPSLongitude=20.5", "-GPSLongitudeRef=W", "-GPSAltitude=123.4", "-GPSProcessingMethod=GPS",
                 "-XMP-iptcExt:LocationShownCity=Old Town", str(photo))  # fmt: skip
    tags_before = other_tags(photo)
    gps_before = {k: v for k, v in exiftool_json(photo).items() if k.startswith(("GPS:", "XMP-iptcExt"))}
    pixels_before = pixels(photo)
    report = tmp_path / "r.csv"
    geotag(
        [photo],
        FakePredictor({"photo.jpg": (EIFFEL, 0.9)}),
        report,
        options=GeotagOptions(overwrite_gps=True),
    )
    assert location_of(photo) == (pytest.approx(EIFFEL[1], abs=1e-5), pytest.approx(EIFFEL[2], abs=1e-5))

    assert undo(report).counts == {"restored": 1}
    after = exiftool_json(photo)
    assert {k: v for k, v in after.items() if k.startswith(("GPS:", "XMP-iptcExt"))} == gps_before
    assert after["Composite:GPSLatitude"] == pytest.approx(-10.123456789, abs=1e-9)
    assert other_tags(photo) == tags_before
    assert (pixels(photo) == pixels_before).all()


def test_undo_sidecars(tmp_path: Path) -> None:
    new = make_photo(tmp_path / "new.jpg", seed=1)
    kept = make_photo(tmp_path / "kept.jpg", seed=2)
    kept_sidecar = tmp_path / "kept.jpg.xmp"
    exiftool_run("-XMP-dc:Subject=edits", "-o", str(kept_sidecar))
    sidecar_before = sha256(kept_sidecar)
    report = tmp_path / "r.csv"
    predictor = FakePredictor({"new.jpg": (EIFFEL, 0.9), "kept.jpg": (OPERA, 0.9)})
    geotag([new, kept], predictor, report, options=GeotagOptions(write=WriteMode.XMP))
    assert (tmp_path / "new.jpg.xmp").exists()
    # after the run, someone adds their own tags to the sidecar we created: undo must keep them
    other = make_photo(tmp_path / "other.jpg", seed=3)
    geotag([other], FakePredictor({"other.jpg": (CHRIST, 0.9)}), tmp_path / "o.csv",
           options=GeotagOptions(write=WriteMode.XMP))  # fmt: skip
    exiftool_run("-overwrite_original", "-XMP-xmp:Rating=3", str(tmp_path / "other.jpg.xmp"))

    assert undo(report).counts == {"removed sidecar": 1, "restored": 1}
    assert not (tmp_path / "new.jpg.xmp").exists()
    assert sha256(kept_sidecar) == sidecar_before

    assert undo(tmp_path / "o.csv").counts == {"restored": 1}
    tags = exiftool_json(tmp_path / "other.jpg.xmp")
    assert tags["XMP-xmp:Rating"] == 3
    assert not [k for k in tags if k.startswith(("XMP-exif:GPS", "XMP-iptcExt"))]


def test_undo_leaves_a_file_changed_since(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    report = tmp_path / "r.csv"
    geotag([photo], FakePredictor({"photo.jpg": (EIFFEL, 0.9)}), report)
    exiftool_run("-overwrite_original", "-n", "-GPSLatitude=1", "-GPSLatitudeRef=N", str(photo))  # the user fixed it
    digest = sha256(photo)
    result = undo(report)
    assert result.counts == {"skipped: location changed since": 1}
    assert sha256(photo) == digest


def test_undo_rejects_what_is_not_a_report(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    with open(other, "w", newline="") as fh:
        csv.writer(fh).writerows([["name", "value"], ["a", "1"]])
    with pytest.raises(ReportError, match="not a geotag report"):
        undo(other)
    with pytest.raises(ReportError, match="no such report"):
        undo(tmp_path / "missing.csv")
