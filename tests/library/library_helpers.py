"""Library test helpers: photos whose metadata the exiftool binary wrote (via the geotag tests' helpers)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geotag"))

from geotag_helpers import EXIFTOOL, exiftool_json, exiftool_run, make_photo

__all__ = ["CANON", "EXIFTOOL", "exiftool_json", "exiftool_run", "make_photo", "tagged_photo"]


def tagged_photo(path: Path, *tags: str, seed: int = 0) -> Path:
    """A fresh photo with these exiftool assignments (`-EXIF:Make=Canon`, ...) written into it."""
    make_photo(path, seed=seed)
    if tags:
        exiftool_run("-overwrite_original", *tags, str(path))
    return path


CANON = ("-EXIF:Make=Canon", "-EXIF:Model=EOS 5D", "-ExifIFD:SerialNumber=0123456")
