"""Writing and reading GPS/XMP through exiftool, checked with the exiftool command line."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from geotag_helpers import (
    CHRIST,
    EIFFEL,
    LIBERTY,
    OPERA,
    exiftool_json,
    exiftool_run,
    jpeg_scan_data,
    make_photo,
    other_tags,
    pixels,
    sha256,
)

from landmarks.errors import BadImageError
from landmarks.geotag.metadata import (
    EXIF_CLEARED,
    SIDECAR_CLEARED,
    ExifToolMissingError,
    ExifToolSession,
    Location,
    WriteJob,
    is_temp_file,
    read_gps,
)


def _loc(landmark: tuple) -> Location:
    name, lat, lon, radius, city, country = landmark
    return Location(name, lat, lon, radius, city, country)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if is_temp_file(p)]


@pytest.mark.parametrize("landmark", [EIFFEL, LIBERTY, OPERA, CHRIST], ids=["NE", "NW", "SE", "SW"])
def test_exif_gps_and_location_shown_in_every_quadrant(tmp_path: Path, landmark: tuple) -> None:
    photo = make_photo(tmp_path / "photo.jpg")  # PIL JPEG: no EXIF at all
    assert "GPS:GPSLatitude" not in exiftool_json(photo)
    loc = _loc(landmark)
    with ExifToolSession() as session:
        assert session.write([WriteJob(photo, loc.exif_tags(), EXIF_CLEARED)]) == [None]

    tags = exiftool_json(photo)
    assert tags["GPS:GPSVersionID"] == "2 3 0 0"
    assert tags["GPS:GPSLatitudeRef"] == ("N" if loc.latitude >= 0 else "S")
    assert tags["GPS:GPSLongitudeRef"] == ("E" if loc.longitude >= 0 else "W")
    assert tags["GPS:GPSLatitude"] == pytest.approx(abs(loc.latitude), abs=1e-5)
    assert tags["Composite:GPSLatitude"] == pytest.approx(loc.latitude, abs=1e-5)
    assert tags["Composite:GPSLongitude"] == pytest.approx(loc.longitude, abs=1e-5)
    assert tags["GPS:GPSHPositioningError"] == pytest.approx(landmark[3] * 1000)
    (shown,) = tags["XMP-iptcExt:LocationShown"]
    assert shown["LocationName"] == loc.name
    assert shown["City"] == loc.city
    assert shown["CountryName"] == loc.country
    assert shown["GPSLatitude"] == pytest.approx(loc.latitude, abs=1e-5)
    assert shown["GPSLongitude"] == pytest.approx(loc.longitude, abs=1e-5)
    assert read_gps(photo) == (pytest.approx(loc.latitude, abs=1e-5), pytest.approx(loc.longitude, abs=1e-5))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "photo.webp", "photo.heic", "photo.tif"])
def test_every_writable_format_keeps_its_pixels(tmp_path: Path, name: str) -> None:
    photo = make_photo(tmp_path / name)
    before = pixels(photo)
    with ExifToolSession() as session:
        info = session.inspect([photo])[0]
        assert info.error is None and info.gps is None
        assert session.write([WriteJob(photo, _loc(CHRIST).exif_tags(), EXIF_CLEARED)]) == [None]
    tags = exiftool_json(photo)
    assert "ExifTool:Error" not in tags
    assert tags["Composite:GPSLatitude"] == pytest.approx(CHRIST[1], abs=1e-5)
    assert tags["Composite:GPSLongitude"] == pytest.approx(CHRIST[2], abs=1e-5)
    assert tags["XMP-iptcExt:LocationShown"][0]["City"] == "Rio de Janeiro"
    assert (pixels(photo) == before).all()


def test_everything_else_is_kept_byte_for_byte(rich_jpeg: Path) -> None:
    os.chmod(rich_jpeg, 0o640)
    os.utime(rich_jpeg, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    before_tags = other_tags(rich_jpeg)
    assert before_tags["ICC_Profile:ProfileDescription"]  # the fixture really has all four kinds
    assert before_tags["IPTC:Keywords"] == "travel"
    assert before_tags["XMP-dc:Title"] == "Our trip"
    assert before_tags["IFD0:Make"] == "Canon"
    icc_before = exiftool_json(rich_jpeg, "-ICC_Profile")["ICC_Profile:ICC_Profile"]
    scan_before, pixels_before = jpeg_scan_data(rich_jpeg), pixels(rich_jpeg)
    st_before = os.stat(rich_jpeg)

    with ExifToolSession() as session:
        assert session.write([WriteJob(rich_jpeg, _loc(OPERA).exif_tags(), EXIF_CLEARED)]) == [None]

    st_after = os.stat(rich_jpeg)
    assert st_after.st_ino != st_before.st_ino  # replaced by rename, not rewritten in place
    assert st_after.st_mode == st_before.st_mode
    assert st_after.st_mtime_ns == st_before.st_mtime_ns
    assert other_tags(rich_jpeg) == before_tags
    assert exiftool_json(rich_jpeg, "-ICC_Profile")["ICC_Profile:ICC_Profile"] == icc_before
    assert jpeg_scan_data(rich_jpeg) == scan_before
    assert (pixels(rich_jpeg) == pixels_before).all()
    assert exiftool_json(rich_jpeg)["Composite:GPSLatitude"] == pytest.approx(OPERA[1], abs=1e-5)


def test_many_files_in_one_call_each_get_their_own_location(tmp_path: Path) -> None:
    landmarks = [EIFFEL, LIBERTY, OPERA, CHRIST] * 2
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(len(landmarks))]
    jobs = [WriteJob(p, _loc(lm).exif_tags(), EXIF_CLEARED) for p, lm in zip(photos, landmarks, strict=True)]
    with ExifToolSession() as session:
        assert session.write(jobs) == [None] * len(jobs)
    for photo, landmark in zip(photos, landmarks, strict=True):
        tags = exiftool_json(photo)
        assert tags["Composite:GPSLatitude"] == pytest.approx(landmark[1], abs=1e-5)
        assert tags["Composite:GPSLongitude"] == pytest.approx(landmark[2], abs=1e-5)
        assert tags["XMP-iptcExt:LocationShown"][0]["LocationName"] == landmark[0]
    assert _leftovers(tmp_path) == []


def test_a_file_exiftool_cannot_write_is_reported_and_untouched(tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a photo at all\n")
    good = make_photo(tmp_path / "good.jpg")
    digest = sha256(fake)
    jobs = [WriteJob(fake, _loc(EIFFEL).exif_tags(), EXIF_CLEARED), WriteJob(good, _loc(EIFFEL).exif_tags())]
    with ExifToolSession() as session:
        errors = session.write(jobs)
    assert errors[0] is not None and "JPG" in errors[0]
    assert errors[1] is None
    assert sha256(fake) == digest
    assert _leftovers(tmp_path) == []


def test_a_file_changed_since_inspection_is_left_alone(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    with ExifToolSession() as session:
        stamp = session.inspect([photo])[0].stamp
        exiftool_run("-overwrite_original", "-EXIF:Artist=someone else", str(photo))  # a concurrent edit
        digest = sha256(photo)
        (error,) = session.write([WriteJob(photo, _loc(EIFFEL).exif_tags(), EXIF_CLEARED, expected=stamp)])
    assert error is not None and "changed" in error
    assert sha256(photo) == digest
    assert _leftovers(tmp_path) == []


def test_new_sidecar_is_standard_xmp(tmp_path: Path) -> None:
    sidecar = tmp_path / "photo.jpg.xmp"
    with ExifToolSession() as session:
        assert session.write([WriteJob(sidecar, _loc(LIBERTY).sidecar_tags(), SIDECAR_CLEARED, create=True)]) == [None]
    tags = exiftool_json(sidecar)
    assert tags["File:FileType"] == "XMP"
    assert tags["XMP-exif:GPSLatitude"] == pytest.approx(LIBERTY[1], abs=1e-5)
    assert tags["XMP-exif:GPSLongitude"] == pytest.approx(LIBERTY[2], abs=1e-5)
    assert tags["XMP-iptcExt:LocationShown"][0]["LocationName"] == "Statue of Liberty"
    # What darktable/digiKam (exiv2) look up: Xmp.exif.GPSLatitude/GPSLongitude in the exif namespace
    ns = {"exif": "http://ns.adobe.com/exif/1.0/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
    root = ET.parse(sidecar).getroot()
    lat = root.find(".//rdf:Description/exif:GPSLatitude", ns)
    lon = root.find(".//rdf:Description/exif:GPSLongitude", ns)
    assert lat is not None and lat.text is not None and lat.text.endswith("N")
    assert lon is not None and lon.text is not None and lon.text.endswith("W")


def test_a_sidecar_that_appears_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    sidecar = tmp_path / "photo.jpg.xmp"
    sidecar.write_text("someone else's sidecar")  # appeared after we decided to create one
    with ExifToolSession() as session:
        (error,) = session.write([WriteJob(sidecar, _loc(EIFFEL).sidecar_tags(), SIDECAR_CLEARED, create=True)])
    assert error is not None and "appeared" in error
    assert sidecar.read_text() == "someone else's sidecar"
    assert _leftovers(tmp_path) == []


def test_read_gps(tmp_path: Path) -> None:
    plain = make_photo(tmp_path / "plain.png")
    assert read_gps(plain) is None
    exiftool_run("-overwrite_original", "-n", "-GPSLatitude=12.5", "-GPSLatitudeRef=S", "-GPSLongitude=7.25",
                 "-GPSLongitudeRef=W", str(plain))  # fmt: skip
    assert read_gps(plain) == (pytest.approx(-12.5), pytest.approx(-7.25))
    broken = tmp_path / "empty.jpg"
    broken.write_bytes(b"")
    with pytest.raises(BadImageError, match="empty"):
        read_gps(broken)


def test_missing_exiftool_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ExifToolMissingError, match="apt-get install libimage-exiftool-perl"):
        ExifToolSession()
