"""Fixtures for the geotag tests (helpers live in geotag_helpers.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from geotag_helpers import EXIFTOOL, exiftool_run, make_photo
from PIL import ImageCms


@pytest.fixture(autouse=True, scope="session")
def _need_exiftool() -> None:
    if EXIFTOOL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("exiftool is missing: CI must install libimage-exiftool-perl")
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")


@pytest.fixture(scope="session")
def rich_jpeg_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JPEG that exiftool gave EXIF, IPTC, XMP and an ICC profile (built once per session)."""
    folder = tmp_path_factory.mktemp("rich")
    icc = folder / "srgb.icc"
    icc.write_bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    photo = make_photo(folder / "rich.jpg", seed=7)
    exiftool_run(
        "-overwrite_original",
        f"-ICC_Profile<={icc}",
        "-EXIF:Make=Canon",
        "-EXIF:Model=EOS 5D",
        "-EXIF:DateTimeOriginal=2021:06:01 10:20:30",
        "-EXIF:Artist=A. Photographer",
        "-IPTC:Keywords=travel",
        "-IPTC:City=Somewhere",
        "-XMP-dc:Subject=holiday",
        "-XMP-dc:Title=Our trip",
        "-XMP-xmp:Rating=4",
        str(photo),
    )
    return photo


@pytest.fixture
def rich_jpeg(rich_jpeg_master: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "photos" / "rich.jpg"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(rich_jpeg_master, dest)
    return dest
