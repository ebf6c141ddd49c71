"""Geotag test helpers: photos in several formats, a fake predictor, exiftool as an independent reader.

Results are always read back with the `exiftool` command line, never through the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from landmarks.errors import LandmarksError
from landmarks.inference.types import Guess, Prediction

EXIFTOOL = shutil.which("exiftool")

# (name, latitude, longitude, radius_km, city, country): one landmark per quadrant of the globe
EIFFEL = ("Eiffel Tower", 48.8583701, 2.2944813, 0.2, "Paris", "France")
LIBERTY = ("Statue of Liberty", 40.6892494, -74.0445004, 0.3, "New York", "United States")
OPERA = ("Sydney Opera House", -33.8567844, 151.2152967, 0.25, "Sydney", "Australia")
CHRIST = ("Christ the Redeemer", -22.951916, -43.2104872, 0.15, "Rio de Janeiro", "Brazil")


_PROCESS: dict[str, Any] = {}


def _exiftool() -> Any:
    """One exiftool process for all tests' reads (pyexiftool only as the pipe: never our code)."""
    if "et" not in _PROCESS:
        import atexit

        import exiftool

        et = exiftool.ExifTool(executable=EXIFTOOL, common_args=None, encoding="utf-8")
        et.run()
        atexit.register(et.terminate)
        _PROCESS["et"] = et
    return _PROCESS["et"]


def exiftool_json(path: Path, *args: str) -> dict[str, Any]:
    """All tags of one file as exiftool sees them (`-n`: numbers, `-b`: binary as base64)."""
    et = _exiftool()
    out = et.execute("-j", "-n", "-a", "-G1", "-struct", "-b", *args, os.fsencode(path))
    assert et.last_status == 0, et.last_stderr
    return json.loads(out)[0]


def exiftool_run(*args: str) -> None:
    et = _exiftool()
    et.execute("-q", "-q", *args)
    assert et.last_status == 0, et.last_stderr


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def jpeg_scan_data(path: Path) -> bytes:
    """The entropy-coded image data of a JPEG: everything from the first SOS marker on."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8"
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"bad marker at {pos}"
        marker = data[pos + 1]
        if marker == 0xDA:
            return data[pos:]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
    raise AssertionError("no SOS marker")


def noise_image(size: tuple[int, int] = (160, 120), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    img = base * 0.7 + rng.normal(0, 30, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def make_photo(path: Path, fmt: str | None = None, size: tuple[int, int] = (160, 120), seed: int = 0) -> Path:
    """A photo with no metadata at all, in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    image = noise_image(size, seed)
    if suffix in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        image.save(path, format="HEIF", quality=90)
    else:
        fmt = fmt or {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF"}[suffix]
        image.save(path, format=fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return path


def prediction(source: str, landmark: tuple[Any, ...] | None, score: float, threshold: float = 0.5) -> Prediction:
    """A Prediction as the real predictor builds it; landmark None: a place with no coordinates."""
    name, lat, lon, radius, city, country = landmark or ("Unmapped Place", None, None, None, None, None)
    guess = Guess(
        rank=1,
        class_index=0,
        class_id=None,
        folder=name.lower().replace(" ", "_"),
        name=name,
        probability=score,
        latitude=lat,
        longitude=lon,
        radius_km=radius,
        city=city,
        country=country,
    )
    return Prediction(source=source, top=[guess], unknown=score < threshold, score=score, threshold=threshold)


Answer = tuple[tuple[Any, ...] | None, float] | LandmarksError


class FakePredictor:
    """Answers by file name: (landmark, score) or a LandmarksError; records what it was asked."""

    def __init__(self, answers: dict[str, tuple[tuple[Any, ...] | None, float] | LandmarksError], threshold=0.5):
        self.answers = answers
        self.threshold = threshold
        self.calls: list[list[str]] = []

    def predict_many(
        self, images: Sequence[Path], k: int = 3, batch_size: int = 16
    ) -> list[Prediction | LandmarksError]:
        names = [Path(i).name for i in images]
        self.calls.append(names)
        out: list[Prediction | LandmarksError] = []
        for name in names:
            answer = self.answers[name]
            if isinstance(answer, LandmarksError):
                out.append(answer)
            else:
                out.append(prediction(name, answer[0], answer[1], self.threshold))
        return out

    @property
    def asked(self) -> set[str]:
        return {n for call in self.calls for n in call}


def location_of(path: Path) -> tuple[float, float] | None:
    """Signed coordinates as exiftool reads them (EXIF GPS via Composite, or XMP exif:GPS*)."""
    tags = exiftool_json(path)
    for lat_key, lon_key in (
        ("Composite:GPSLatitude", "Composite:GPSLongitude"),
        ("XMP-exif:GPSLatitude", "XMP-exif:GPSLongitude"),
    ):
        if lat_key in tags and lon_key in tags:
            return tags[lat_key], tags[lon_key]
    return None


#: Tags that legitimately change when any metadata is written (file system facts, sizes, offsets).
VOLATILE = ("System:", "File:FileSize", "ExifTool:", "SourceFile", "File:FileName", "File:Directory")


def other_tags(path: Path) -> dict[str, Any]:
    """Every tag except the ones a geotag write is allowed to touch."""
    touched = ("GPS:", "XMP-exif:GPS", "XMP-iptcExt:LocationShown", "Composite:GPS")
    return {k: v for k, v in exiftool_json(path).items() if not k.startswith(VOLATILE) and not k.startswith(touched)}
