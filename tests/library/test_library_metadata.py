"""Parsing exiftool's answers into the index's columns (no exiftool needed)."""

from __future__ import annotations

import pytest

from landmarks.library.metadata import parse_capture_time, parse_entry


@pytest.mark.parametrize(
    ("original", "offset", "utc"),
    [
        ("2023:07:14 10:20:30", "+02:00", "2023-07-14T08:20:30+00:00"),
        ("2023:07:14 01:00:00", "-05:30", "2023-07-14T06:30:00+00:00"),
        ("2023:07:14 10:20:30+09:00", None, "2023-07-14T01:20:30+00:00"),
        ("2023:07:14 10:20:30.5", "Z", "2023-07-14T10:20:30.500000+00:00"),
        ("2023:07:14 10:20:30", "   :  ", None),  # exiftool's blank offset
        ("2023:07:14 10:20:30", None, None),
    ],
)
def test_capture_time_with_and_without_offset(original: str, offset: str | None, utc: str | None) -> None:
    out = parse_capture_time(original, offset)
    assert out["datetime_original"] == original and out.get("taken_utc") == utc
    assert out["taken_local_s"] is not None


@pytest.mark.parametrize("original", ["0000:00:00 00:00:00", "2023:13:01 00:00:00", "yesterday", "", None])
def test_invalid_capture_times_give_no_time_at_all(original: str | None) -> None:
    out = parse_capture_time(original, "+01:00")
    assert "taken_local_s" not in out and "taken_utc" not in out


def test_gps_priority_and_bad_values() -> None:
    entry = {
        "File:MIMEType": "image/jpeg",
        "Composite:GPSLatitude": 95.0,  # out of range: ignored
        "Composite:GPSLongitude": 2.0,
        "XMP-exif:GPSLatitude": "not a number",
        "XMP-iptcExt:LocationShown": [{"LocationName": "no coordinates"}, {"GPSLatitude": 1.5, "GPSLongitude": -2.5}],
        "IFD0:Make": "  Canon\x00 ",
        "Canon:SerialNumber": 42,
    }
    meta = parse_entry(entry)
    assert (meta.gps_lat, meta.gps_lon, meta.gps_source) == (1.5, -2.5, "location_shown")
    assert meta.make == "Canon" and meta.serial == "42"
    assert parse_entry({"File:MIMEType": "text/plain", "File:FileType": "TXT"}).error == "not an image (TXT)"
    assert parse_entry(None).error


@pytest.mark.parametrize(
    ("marker", "in_sidecar", "source"),
    [
        ({"GPS:GPSProcessingMethod": "landmarks estimate"}, False, "estimate"),
        ({"XMP-exif:GPSProcessingMethod": "Landmarks Estimate "}, False, "estimate"),  # only the XMP copy left
        ({"GPS:GPSProcessingMethod": "GPS"}, False, "exif"),  # a receiver's method: a measured place
        ({"XMP-exif:GPSProcessingMethod": "landmarks estimate"}, True, "estimate"),  # an estimate in a sidecar
    ],
)
def test_gps_we_wrote_as_an_estimate_is_read_as_one(marker: dict[str, str], in_sidecar: bool, source: str) -> None:
    photo: dict[str, object] = {"File:MIMEType": "image/jpeg"}
    gps = {"Composite:GPSLatitude": 48.8, "Composite:GPSLongitude": 2.3, "GPS:GPSHPositioningError": 1200}
    if in_sidecar:
        sidecar = {"XMP-exif:GPSLatitude": 48.8, "XMP-exif:GPSLongitude": 2.3, **marker}
        meta = parse_entry(photo, sidecar)
    else:
        meta = parse_entry({**photo, **gps, **marker})
    assert (meta.gps_lat, meta.gps_lon, meta.gps_source, meta.gps_in_sidecar) == (48.8, 2.3, source, int(in_sidecar))
