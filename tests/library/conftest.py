"""Fixtures for the library index tests: a small library whose metadata the exiftool binary wrote."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from library_helpers import CANON, EXIFTOOL, make_photo, tagged_photo


@pytest.fixture(autouse=True, scope="session")
def _need_exiftool() -> None:
    if EXIFTOOL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("exiftool is missing: CI must install libimage-exiftool-perl")
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")


@pytest.fixture(scope="session")
def library_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six photos covering every way a location and a capture time can be stored, plus distractors."""
    root = tmp_path_factory.mktemp("master") / "library"
    tagged_photo(
        root / "paris.jpg", *CANON,
        "-EXIF:DateTimeOriginal=2023:07:14 10:20:30", "-EXIF:OffsetTimeOriginal=+02:00",
        "-GPS:GPSLatitude=48.8584", "-GPS:GPSLatitudeRef=N", "-GPS:GPSLongitude=2.2945", "-GPS:GPSLongitudeRef=E",
        "-GPS:GPSHPositioningError=15", seed=1,
    )  # fmt: skip
    tagged_photo(root / "lunch.jpg", *CANON, "-EXIF:DateTimeOriginal=2023:07:14 10:35:00", seed=2)
    tagged_photo(
        root / "trip" / "nyc.png", "-XMP-exif:DateTimeOriginal=2022:05:01 09:00:00-04:00",
        "-XMP-exif:GPSLatitude=40.6892", "-XMP-exif:GPSLongitude=-74.0445", seed=3,
    )  # fmt: skip
    tagged_photo(
        root / "trip" / "shown.jpg", "-XMP-iptcExt:LocationShown={GPSLatitude=-33.8568,GPSLongitude=151.2153}", seed=4
    )
    tagged_photo(
        root / "trip" / "created.jpg",
        "-XMP-iptcExt:LocationCreated={GPSLatitude=-22.9519,GPSLongitude=-43.2105}",
        seed=5,
    )
    tagged_photo(root / "trip" / "plain.jpg", seed=6)
    (root / "trip" / "plain.jpg.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="41,53.4N"'
        ' exif:GPSLongitude="12,29.5E"/></rdf:RDF></x:xmpmeta>'
    )
    (root / "notes.txt").write_text("not a photo")
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / ".hidden.jpg").write_bytes((root / "lunch.jpg").read_bytes())
    return root


@pytest.fixture
def library(library_master: Path, tmp_path: Path) -> Path:
    """A copy of the master library, with symlinks to a photo outside, out of the root and into a loop."""
    root = tmp_path / "library"
    shutil.copytree(library_master, root)
    outside = make_photo(tmp_path / "outside" / "away.jpg", seed=9)
    (root / "link.jpg").symlink_to(outside)
    (root / "trip" / "loop").symlink_to(root, target_is_directory=True)
    (root / "out").symlink_to(outside.parent, target_is_directory=True)
    return root
