"""What a library scan reads from each photo (and its XMP sidecar), in bulk through one exiftool.

One `exiftool -stay_open` process (pyexiftool) answers a whole batch per call, asked only for the
tags the index keeps, with `-fast` (stop at the image data): the scan costs the process start once,
not per photo. Parsing is pure (`parse_entry`), so it is tested without exiftool.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from landmarks.errors import LibraryError

TAGS = (
    "-File:FileType",
    "-File:MIMEType",
    "-ExifTool:Error",
    "-ExifIFD:DateTimeOriginal",
    "-ExifIFD:OffsetTimeOriginal",
    "-XMP-exif:DateTimeOriginal",
    "-IFD0:Make",
    "-IFD0:Model",
    "-XMP-tiff:Make",
    "-XMP-tiff:Model",
    "-SerialNumber",
    "-Composite:GPSLatitude",
    "-Composite:GPSLongitude",
    "-GPS:GPSHPositioningError",
    "-GPS:GPSProcessingMethod",
    "-XMP-exif:GPSLatitude",
    "-XMP-exif:GPSLongitude",
    "-XMP-exif:GPSHPositioningError",
    "-XMP-exif:GPSProcessingMethod",
    "-XMP-iptcExt:LocationShown",
    "-XMP-iptcExt:LocationCreated",
    "-Composite:ImageSize",
)
"""Only what the index keeps: asking for named tags is what makes exiftool fast."""

ESTIMATE_METHOD = "landmarks estimate"
"""GPSProcessingMethod (EXIF and XMP) of an estimate we wrote: its place was inferred, not measured."""
METHOD_TAGS = ("GPS:GPSProcessingMethod", "XMP-exif:GPSProcessingMethod")

_INSTALL_HINT = (
    "exiftool is not installed: install it with `apt-get install libimage-exiftool-perl` or `brew install exiftool`"
)
_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_OFFSET = re.compile(r"^(Z|([+-])(\d{2}):?(\d{2}))$")


@dataclass(frozen=True)
class PhotoMeta:
    """The index's metadata columns for one photo (see `PhotoRow` for their meaning)."""

    error: str | None = None
    file_type: str | None = None
    width: int | None = None
    height: int | None = None
    datetime_original: str | None = None
    offset_time_original: str | None = None
    taken_local_s: float | None = None
    taken_utc: str | None = None
    taken_utc_s: float | None = None
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_source: str | None = None
    gps_in_sidecar: int = 0
    gps_error_m: float | None = None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, list | dict):
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_offset(text: str | None) -> timezone | None:
    """`+02:00`, `-0530`, `Z` -> a timezone; anything else (exiftool leaves blanks as `   :  `) -> None."""
    m = _OFFSET.match((text or "").strip())
    if m is None:
        return None
    if m.group(1) == "Z":
        return UTC
    hours, minutes = int(m.group(3)), int(m.group(4))
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if m.group(2) == "-" else delta)


def parse_capture_time(original: str | None, offset: str | None) -> dict[str, Any]:
    """DateTimeOriginal (+ OffsetTimeOriginal) -> the index's time columns; an invalid date gives none."""
    out: dict[str, Any] = {"datetime_original": original, "offset_time_original": offset}
    m = _DATE.match(original or "")
    if m is None:
        return out
    try:
        wall = datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:  # 0000:00:00 00:00:00, month 13, ...
        return out
    if m.group(7):
        wall += timedelta(seconds=float(m.group(7)))
    zone = parse_offset(offset) or parse_offset(m.group(8))
    if offset is None and m.group(8):
        out["offset_time_original"] = m.group(8)
    out["taken_local_s"] = wall.replace(tzinfo=UTC).timestamp()
    if zone is not None:
        instant = wall.replace(tzinfo=zone).astimezone(UTC)
        out["taken_utc"] = instant.isoformat()
        out["taken_utc_s"] = instant.timestamp()
    return out


def _valid(lat: float | None, lon: float | None) -> bool:
    return lat is not None and lon is not None and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def _location_gps(value: Any) -> tuple[float, float] | None:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            lat, lon = _number(item.get("GPSLatitude")), _number(item.get("GPSLongitude"))
            if _valid(lat, lon):
                return lat, lon  # type: ignore[return-value]
    return None


def is_estimate(entry: dict[str, Any]) -> bool:
    """Whether the file's GPS is an estimate we wrote: its GPSProcessingMethod, in EXIF or XMP, says so.

    Either marker counts, even one left behind by a tool that rewrote the other block: at worst a
    measured place is then not used as an anchor, never an inferred one used as measured.
    """
    return any((_text(entry.get(key)) or "").casefold() == ESTIMATE_METHOD for key in METHOD_TAGS)


def gps_from(entry: dict[str, Any]) -> tuple[float, float, str, float | None] | None:
    """(lat, lon, source, error_m): EXIF GPS first, then XMP exif:GPS*, LocationShown, LocationCreated.

    EXIF or XMP GPS that carries our estimate marker has the source `estimate` (it anchors nothing).
    """
    pairs = (
        ("exif", "Composite:GPSLatitude", "Composite:GPSLongitude", "GPS:GPSHPositioningError"),
        ("xmp", "XMP-exif:GPSLatitude", "XMP-exif:GPSLongitude", "XMP-exif:GPSHPositioningError"),
    )
    for source, lat_key, lon_key, error_key in pairs:
        lat, lon = _number(entry.get(lat_key)), _number(entry.get(lon_key))
        if _valid(lat, lon):
            source = "estimate" if is_estimate(entry) else source
            return lat, lon, source, _number(entry.get(error_key))  # type: ignore[return-value]
    locations = (("location_shown", "XMP-iptcExt:LocationShown"), ("location_created", "XMP-iptcExt:LocationCreated"))
    for source, key in locations:
        found = _location_gps(entry.get(key))
        if found is not None:
            return found[0], found[1], source, None
    return None


def _serial(entry: dict[str, Any]) -> str | None:
    """EXIF 2.3 BodySerialNumber first, then any maker note's SerialNumber."""
    exif = _text(entry.get("ExifIFD:SerialNumber"))
    if exif:
        return exif
    for key, value in entry.items():
        if key.endswith(":SerialNumber") and (text := _text(value)):
            return text
    return None


def parse_entry(entry: dict[str, Any] | None, sidecar: dict[str, Any] | None = None) -> PhotoMeta:
    """One exiftool `-j -n -G1 -struct` entry (and the sidecar's, if any) -> the index's columns."""
    if entry is None:
        return PhotoMeta(error="exiftool could not read the file")
    mime = _text(entry.get("File:MIMEType")) or ""
    file_type = _text(entry.get("File:FileType"))
    error = _text(entry.get("ExifTool:Error"))
    if error is None and not mime.startswith("image/"):
        error = f"not an image ({file_type or 'unknown format'})"
    if error:
        return PhotoMeta(error=error, file_type=file_type)
    width = height = None
    size = _text(entry.get("Composite:ImageSize"))
    if size and re.fullmatch(r"\d+[ x]\d+", size):
        width, height = (int(v) for v in re.split(r"[ x]", size))
    # EXIF's date with its own offset tag; else an XMP date (photo, then sidecar), whose offset is inline.
    original = _text(entry.get("ExifIFD:DateTimeOriginal"))
    offset = _text(entry.get("ExifIFD:OffsetTimeOriginal")) if original else None
    if original is None:
        original = _text(entry.get("XMP-exif:DateTimeOriginal")) or _text(
            (sidecar or {}).get("XMP-exif:DateTimeOriginal")
        )
    gps, in_sidecar = gps_from(entry), 0
    if gps is None and sidecar:
        gps, in_sidecar = gps_from(sidecar), 1
    return PhotoMeta(
        file_type=file_type,
        width=width,
        height=height,
        **parse_capture_time(original, offset),
        make=_text(entry.get("IFD0:Make")) or _text(entry.get("XMP-tiff:Make")),
        model=_text(entry.get("IFD0:Model")) or _text(entry.get("XMP-tiff:Model")),
        serial=_serial(entry),
        gps_lat=gps[0] if gps else None,
        gps_lon=gps[1] if gps else None,
        gps_source=gps[2] if gps else None,
        gps_in_sidecar=in_sidecar if gps else 0,
        gps_error_m=gps[3] if gps else None,
    )


class MetadataReader:
    """One long-lived exiftool process; `read(paths)` answers a batch in one call. Not thread-safe."""

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or shutil.which("exiftool")
        if self.executable is None:
            raise LibraryError(_INSTALL_HINT)
        self._et: Any = None
        self.calls = 0

    def start(self) -> MetadataReader:
        import exiftool  # pyexiftool

        if self._et is None:
            et = exiftool.ExifTool(executable=self.executable, common_args=None, encoding="utf-8")
            try:
                et.run()
            except (OSError, RuntimeError) as exc:
                raise LibraryError(f"{_INSTALL_HINT} ({exc})") from exc
            self._et = et
        return self

    def close(self) -> None:
        if self._et is not None:
            with contextlib.suppress(Exception):
                self._et.terminate()
            self._et = None

    def __enter__(self) -> MetadataReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, paths: Sequence[Path]) -> list[dict[str, Any] | None]:
        """exiftool's JSON entry for each path (None where it gave none), in order."""
        if not paths:
            return []
        self.start()
        self.calls += 1
        args = [os.fsencode(os.path.abspath(p)) for p in paths]
        out = self._et.execute("-j", "-n", "-a", "-G1", "-struct", "-fast", *TAGS, *args, raw_bytes=True)
        text = out.decode("utf-8", "surrogateescape").strip()
        try:
            entries = json.loads(text) if text else []
        except json.JSONDecodeError:
            entries = []
        # One entry per readable file, in argument order; a file exiftool could not open has none,
        # and then only the name tells which is which (names that are not UTF-8 print with "?"s).
        if len(entries) == len(paths):
            return list(entries)
        by_source = {e.get("SourceFile"): e for e in entries}
        return [by_source.get(os.path.abspath(p)) for p in paths]
