"""GPS and location metadata, read and written through exiftool (pyexiftool, one long-lived process).

Why exiftool: it rewrites only the metadata it is asked to change and copies everything else (image
data, ICC profile, IPTC, other EXIF and XMP, maker notes) unchanged, for JPEG, PNG, WebP, HEIC and
TIFF alike, so we never assemble metadata bytes ourselves.

Why writes are safe: exiftool writes a *new* file beside the original (`-o`), which then gets the
original's mode, owner and times, is fsynced and only then renamed over the original (`os.replace`,
atomic on POSIX). A crash or SIGKILL at any moment leaves either the untouched original or the
complete new file, never a mix; at worst a hidden `.NAME.landmarks-XXXXXXXX.tmp` temporary is left,
which the next run or undo in that folder removes (`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from landmarks.errors import BadImageError, LandmarksError
from landmarks.geotag.places import IPTC_CHARSET, PLACE_TAGS

#: exiftool FileType values we write EXIF GPS into (exiftool can write all of them). A WebP that
#: already holds metadata (EXIF, XMP, ICC: a VP8X file) is an "Extended WEBP" to exiftool.
WRITABLE_TYPES = frozenset({"JPEG", "PNG", "WEBP", "Extended WEBP", "HEIC", "HEIF", "AVIF", "TIFF"})

#: What a geotag write replaces, as exiftool tag selectors. Everything in them is recorded before a
#: write (see `FileMetadata.location_tags`), so undo can delete them and put the old values back.
EXIF_CLEARED = ("GPS:all", "XMP-exif:GPS*", "XMP-iptcExt:LocationShown")
SIDECAR_CLEARED = ("XMP-exif:GPS*", "XMP-iptcExt:LocationShown")

_TEMP_MARK = ".landmarks-"
_TOKEN_HEX = 8
#: Exactly the temporaries `temp_path_for` names (`.NAME.landmarks-<8 hex>.tmp|.xmp`), nothing else.
_TEMP_NAME = re.compile(rf"\..+{re.escape(_TEMP_MARK)}[0-9a-f]{{{_TOKEN_HEX}}}\.(tmp|xmp)", re.DOTALL)
#: Where a photo's own place can be, besides EXIF and XMP GPS: IPTC Extension locations with coordinates.
LOCATION_STRUCTS = ("XMP-iptcExt:LocationShown", "XMP-iptcExt:LocationCreated")
_INSTALL_HINT = (
    "exiftool is not installed: install it with `apt-get install libimage-exiftool-perl` "
    "(Debian/Ubuntu), `brew install exiftool` (macOS) or from https://exiftool.org"
)


class ExifToolMissingError(LandmarksError):
    """The exiftool program that reads and writes the metadata is not on PATH."""


class WriteMode(StrEnum):
    """Where the location goes."""

    EXIF = "exif"
    """Into the photo: EXIF GPS tags plus XMP LocationShown (an estimate: its marker in XMP too)."""
    XMP = "xmp"
    """Into an XMP sidecar next to the photo; the photo itself is not touched."""


class SidecarName(StrEnum):
    """How an XMP sidecar is named: darktable and digiKam read `photo.jpg.xmp`, Lightroom `photo.xmp`."""

    APPEND = "photo.jpg.xmp"
    REPLACE = "photo.xmp"


def sidecar_path(photo: Path, naming: SidecarName = SidecarName.APPEND) -> Path:
    """The sidecar file that belongs to `photo`."""
    if naming is SidecarName.REPLACE:
        return photo.with_suffix(".xmp")
    return photo.with_name(photo.name + ".xmp")


@dataclass(frozen=True)
class Location:
    """Where a landmark is: what gets written into a photo."""

    name: str
    latitude: float
    longitude: float
    radius_km: float | None = None
    city: str | None = None
    country: str | None = None
    method: str | None = None
    """GPSProcessingMethod: how the place was found (estimates say so; recognised landmarks leave it out)."""
    shown: bool = True
    """Add a LocationShown entry: the photo shows this place (an estimate shows nothing we know)."""

    def __post_init__(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0):
            raise ValueError(f"coordinates out of range: {self.latitude}, {self.longitude}")

    def _location_shown(self) -> list[dict[str, Any]]:
        shown: dict[str, Any] = {
            "LocationName": self.name,
            "City": self.city,
            "CountryName": self.country,
            "GPSLatitude": self.latitude,
            "GPSLongitude": self.longitude,
        }
        return [{k: v for k, v in shown.items() if v is not None}]

    def _error_m(self) -> float | None:
        if self.radius_km is None or not math.isfinite(self.radius_km) or self.radius_km < 0:
            return None
        return round(self.radius_km * 1000.0, 3)

    def exif_tags(self) -> dict[str, Any]:
        """Standard EXIF GPS tags plus XMP LocationShown (and an estimate's marker and radius in XMP too),
        as exiftool numeric (`-n`) JSON values."""
        tags: dict[str, Any] = {
            "GPS:GPSVersionID": "2 3 0 0",  # EXIF 2.3: the version that defines GPSHPositioningError
            "GPS:GPSLatitude": abs(self.latitude),
            "GPS:GPSLatitudeRef": "N" if self.latitude >= 0 else "S",
            "GPS:GPSLongitude": abs(self.longitude),
            "GPS:GPSLongitudeRef": "E" if self.longitude >= 0 else "W",
        }
        if (error_m := self._error_m()) is not None:
            tags["GPS:GPSHPositioningError"] = error_m
        if self.method:
            # also in the photo's own XMP: what XMP-only readers (catalogues, search) see, and still
            # there if a tool drops the EXIF GPS block; `EXIF_CLEARED` covers it, so undo takes it out
            tags["GPS:GPSProcessingMethod"] = tags["XMP-exif:GPSProcessingMethod"] = self.method
            if error_m is not None:
                tags["XMP-exif:GPSHPositioningError"] = error_m
        tags["XMP-iptcExt:LocationShown"] = self._location_shown() if self.shown else []
        return tags

    def sidecar_tags(self) -> dict[str, Any]:
        """The same facts in XMP (exif: namespace, signed coordinates): what sidecar readers look for."""
        tags: dict[str, Any] = {
            "XMP-exif:GPSVersionID": "2.3.0.0",
            "XMP-exif:GPSLatitude": self.latitude,
            "XMP-exif:GPSLongitude": self.longitude,
        }
        if (error_m := self._error_m()) is not None:
            tags["XMP-exif:GPSHPositioningError"] = error_m
        if self.method:
            tags["XMP-exif:GPSProcessingMethod"] = self.method
        tags["XMP-iptcExt:LocationShown"] = self._location_shown() if self.shown else []
        return tags


@dataclass(frozen=True)
class FileMetadata:
    """What exiftool found in one file: enough to decide whether and how to geotag it."""

    path: Path
    error: str | None = None
    file_type: str | None = None
    mime_type: str | None = None
    gps: tuple[float, float] | None = None
    """The place the file already records, wherever a standard puts it (`gps_from_tags`)."""
    location_tags: dict[str, Any] = field(default_factory=dict)
    """Every tag a geotag write replaces (`EXIF_CLEARED`), as exiftool JSON: what undo restores."""
    place_tags: dict[str, Any] = field(default_factory=dict)
    """Keywords and place names (`places.PLACE_TAGS`) and the IPTC character set: what --tags adds to."""
    size: int | None = None
    mtime_ns: int | None = None

    @property
    def stamp(self) -> tuple[int, int] | None:
        """(size, mtime_ns) when inspected, to notice a file that changes before it is replaced."""
        return None if self.size is None or self.mtime_ns is None else (self.size, self.mtime_ns)

    @property
    def is_image(self) -> bool:
        return (self.mime_type or "").startswith("image/")


@dataclass(frozen=True)
class WriteJob:
    """One atomic metadata write: clear `clear`, then set `tags`, in `target` (created when `create`)."""

    target: Path
    tags: dict[str, Any]
    clear: tuple[str, ...] = ()
    create: bool = False
    """`target` does not exist yet: exiftool builds a new XMP file, which must not replace anything."""
    expected: tuple[int, int] | None = None
    """(size, mtime_ns) when inspected: a file changed since then is left alone."""


def _check_arg(path: Path) -> None:
    # pyexiftool passes one argument per line to exiftool's stdin, so a newline would split it.
    if "\n" in str(path) or "\r" in str(path):
        raise BadImageError(f"{path!s}: file names with line breaks are not supported")


def _signed(value: Any, ref: Any, negative: str) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return -abs(float(value)) if isinstance(ref, str) and ref.upper().startswith(negative) else float(value)


def _struct_gps(value: Any) -> tuple[float, float] | None:
    """The first entry of a LocationShown/LocationCreated (one struct or a list) with coordinates."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            lat, lon = _signed(item.get("GPSLatitude"), None, "S"), _signed(item.get("GPSLongitude"), None, "W")
            if lat is not None and lon is not None:
                return lat, lon
    return None


def gps_from_tags(entry: dict[str, Any]) -> tuple[float, float] | None:
    """Signed coordinates from wherever a standard says a place can be, first found first:
    EXIF GPS (exiftool's Composite tags, or the GPS group with its N/S E/W refs), XMP exif:GPS*, then
    IPTC Extension LocationShown / LocationCreated entries that have coordinates."""
    for lat, lon in (
        (entry.get("Composite:GPSLatitude"), entry.get("Composite:GPSLongitude")),
        (
            _signed(entry.get("GPS:GPSLatitude"), entry.get("GPS:GPSLatitudeRef"), "S"),
            _signed(entry.get("GPS:GPSLongitude"), entry.get("GPS:GPSLongitudeRef"), "W"),
        ),
        (entry.get("XMP-exif:GPSLatitude"), entry.get("XMP-exif:GPSLongitude")),
    ):
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return float(lat), float(lon)
    for key in LOCATION_STRUCTS:
        if (found := _struct_gps(entry.get(key))) is not None:
            return found
    return None


def _is_location_tag(key: str) -> bool:
    return key.startswith(("GPS:", "XMP-exif:GPS", "XMP-iptcExt:LocationShown"))


def _batchable(target: Path) -> bool:
    """Whether the name survives JSON (`SourceFile` must match the file argument exactly)."""
    try:
        str(target).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_error(stderr: str) -> str | None:
    """exiftool's reason, without the trailing ` - FILE` (some messages have no `Error:` prefix)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    others = [line for line in lines if not line.startswith("Warning:") and not line[:1].isdigit()]
    if not errors and not others:
        return None
    message = (errors or others)[0].removeprefix("Error:").strip()
    return message.rsplit(" - ", 1)[0] if " - " in message else message


def temp_path_for(target: Path, token: str, create: bool = False) -> Path:
    """The hidden temporary beside `target` (same folder: the final rename must not cross devices).

    It ends in `.tmp`, an extension exiftool does not know, so exiftool keeps the source's format
    (a `.webp` output name would make it try to create a new WebP and fail); it is what
    `-o %d.%F<mark>TOKEN.tmp` names, so one exiftool call can write many. A new sidecar's temporary
    ends in `.xmp`: that is how exiftool knows to create an XMP file.
    """
    return target.with_name(f".{target.name}{_TEMP_MARK}{token}{'.xmp' if create else '.tmp'}")


def is_temp_file(path: Path) -> bool:
    """A temporary of ours, left behind by an interrupted write (never a photo to geotag)."""
    return _TEMP_NAME.fullmatch(path.name) is not None


def remove_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Delete the temporaries a killed run left in `folders` (only files named exactly as ours are).

    The caller holds the folders' locks (`geotag.lock`), so no live write of ours is among them.
    """
    removed: list[Path] = []
    for folder in sorted({Path(f) for f in folders}):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if _TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


class ExifToolSession:
    """One `exiftool -stay_open` process for a whole batch: starting Perl per file costs ~100 ms.

    Not thread-safe: give each thread its own session.
    """

    def __init__(self, executable: str | None = None, fsync_workers: int = 4, start: bool = True) -> None:
        found = executable or shutil.which("exiftool")
        if found is None:
            raise ExifToolMissingError(_INSTALL_HINT)
        self.executable = found
        self._fsync_workers = fsync_workers
        self._start_on_enter = start
        """`with` starts exiftool at once; if False, the first call (or `start()`) does."""
        self._et: Any = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ExifToolSession:
        import exiftool  # pyexiftool

        if self._et is None:
            et = exiftool.ExifTool(executable=self.executable, common_args=None, encoding="utf-8")
            try:
                et.run()
            except (OSError, RuntimeError) as exc:
                raise ExifToolMissingError(f"{_INSTALL_HINT} ({exc})") from exc
            self._et = et
            self._tmpdir = tempfile.TemporaryDirectory(prefix="landmarks-exiftool-")
        return self

    def close(self) -> None:
        if self._et is not None:
            with contextlib.suppress(Exception):
                self._et.terminate()
            self._et = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> ExifToolSession:
        return self.start() if self._start_on_enter else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _execute(self, *args: str | bytes) -> tuple[str, str, int]:
        self.start()
        out = self._et.execute(*args, raw_bytes=True)
        err = self._et.last_stderr or b""
        status = self._et.last_status or 0
        return (
            out.decode("utf-8", "surrogateescape"),
            err.decode("utf-8", "replace"),
            int(status),
        )

    @contextlib.contextmanager
    def _json_file(self, records: list[dict[str, Any]]) -> Iterator[str]:
        """The tag values for exiftool's `-json=` import, in a file that lives for one call: JSON
        carries any value (commas, braces, newlines, structures) without exiftool's escaping rules."""
        assert self._tmpdir is not None
        fd, name = tempfile.mkstemp(suffix=".json", dir=self._tmpdir.name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(records, fh, ensure_ascii=False)
            yield name
        finally:
            os.unlink(name)

    # -- reading ---------------------------------------------------------------------------------
    def inspect(self, paths: Sequence[Path]) -> list[FileMetadata]:
        """Type, current GPS and the location tags of each file, in one exiftool call."""
        results: dict[int, FileMetadata] = {}
        to_read: list[tuple[int, Path, os.stat_result]] = []
        for i, path in enumerate(paths):
            try:
                _check_arg(path)
                st = os.stat(path)
            except BadImageError as exc:
                results[i] = FileMetadata(path, error=str(exc))
                continue
            except OSError as exc:
                results[i] = FileMetadata(path, error=exc.strerror or str(exc))
                continue
            if not stat.S_ISREG(st.st_mode):
                results[i] = FileMetadata(path, error="not a regular file")
                continue
            to_read.append((i, path, st))
        if to_read:
            out, _err, _status = self._execute(
                "-j", "-n", "-b", "-a", "-G1", "-struct",
                "-FileType", "-MIMEType", "-Error",
                "-Composite:GPSLatitude", "-Composite:GPSLongitude",
                *(f"-{sel}" for sel in EXIF_CLEARED), f"-{LOCATION_STRUCTS[1]}",
                *(f"-{tag}" for tag in (*PLACE_TAGS, IPTC_CHARSET)),
                *(os.fsencode(os.path.abspath(p)) for _, p, _ in to_read),
            )  # fmt: skip
            entries = json.loads(out) if out.strip() else []
            # One entry per file, in argument order. Match by position: exiftool prints a name that
            # is not valid UTF-8 with "?"s; by name only when a file vanished since os.stat.
            if len(entries) == len(to_read):
                found = dict(zip((i for i, _, _ in to_read), entries, strict=True))
            else:
                by_source = {e.get("SourceFile"): e for e in entries}
                found = {i: by_source.get(os.path.abspath(p)) for i, p, _ in to_read}
            for i, path, st in to_read:
                entry = found.get(i)
                if entry is None:
                    results[i] = FileMetadata(path, error="exiftool could not read the file")
                    continue
                error = entry.get("ExifTool:Error")
                results[i] = FileMetadata(
                    path,
                    error=str(error) if error else None,
                    file_type=entry.get("File:FileType"),
                    mime_type=entry.get("File:MIMEType"),
                    gps=gps_from_tags(entry),
                    location_tags={k: v for k, v in entry.items() if _is_location_tag(k)},
                    place_tags={k: v for k, v in entry.items() if k in (*PLACE_TAGS, IPTC_CHARSET)},
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                )
        return [results[i] for i in range(len(paths))]

    def xmp_tag_names(self, path: Path) -> set[str]:
        """The XMP tags in a file (`group:name`, flattened): tells whether a sidecar holds only ours."""
        out, _err, _status = self._execute("-j", "-a", "-G1", "-XMP:all", os.fsencode(os.path.abspath(path)))
        entries = json.loads(out) if out.strip() else [{}]
        return {k for k in entries[0] if k != "SourceFile"}

    # -- writing ---------------------------------------------------------------------------------
    def write(self, jobs: Sequence[WriteJob]) -> list[str | None]:
        """Apply each job atomically; returns None for a job done, else why it was not.

        Jobs that share their `clear` selectors go through exiftool in one call; any job that this
        fast path did not produce is retried on its own, which also yields its exact error.
        """
        self.start()
        jobs = [replace(job, target=Path(os.path.abspath(job.target))) for job in jobs]
        token = secrets.token_hex(_TOKEN_HEX // 2)
        temps = [temp_path_for(job.target, token, job.create) for job in jobs]
        errors: list[str | None] = [None] * len(jobs)
        produced: list[bool] = [False] * len(jobs)
        groups: dict[tuple[tuple[str, ...], bool], list[int]] = {}
        for i, job in enumerate(jobs):
            try:
                _check_arg(job.target)
            except BadImageError as exc:
                errors[i] = str(exc)
                continue
            if _batchable(job.target):
                groups.setdefault((job.clear, job.create), []).append(i)
        try:
            for (clear, create), members in groups.items():
                if len(members) > 1:
                    self._write_many([jobs[i] for i in members], [temps[i] for i in members], token, clear, create)
                    for i in members:
                        produced[i] = temps[i].exists()
            for i, job in enumerate(jobs):
                if errors[i] is None and not produced[i]:
                    errors[i] = self._write_one(job, temps[i])
                    produced[i] = errors[i] is None
            finals = self._finalise_all(
                [(jobs[i], temps[i]) for i in range(len(jobs)) if produced[i] and errors[i] is None]
            )
            done = iter(finals)
            for i in range(len(jobs)):
                if produced[i] and errors[i] is None:
                    errors[i] = next(done)
        finally:
            for tmp in temps:  # whatever did not make it to its final name
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        return errors

    def _write_args(self, clear: Iterable[str], json_name: str) -> list[str]:
        return ["-n", "-struct", "-P", *(f"-{sel}=" for sel in clear), f"-json={json_name}"]

    def _write_many(
        self, jobs: list[WriteJob], temps: list[Path], token: str, clear: tuple[str, ...], create: bool
    ) -> None:
        if create:
            records = [{"SourceFile": str(t), **j.tags} for j, t in zip(jobs, temps, strict=True)]
            files = [os.fsencode(t) for t in temps]
            with self._json_file(records) as json_name:
                self._execute(*self._write_args(clear, json_name), *files)
            return
        records = [{"SourceFile": str(j.target), **j.tags} for j in jobs]
        with self._json_file(records) as json_name:
            self._execute(
                *self._write_args(clear, json_name),
                "-o",
                f"%d.%F{_TEMP_MARK}{token}.tmp",
                *(os.fsencode(j.target) for j in jobs),
            )

    def _write_one(self, job: WriteJob, tmp: Path) -> str | None:
        with self._json_file([{"SourceFile": "*", **job.tags}]) as json_name:
            args = self._write_args(job.clear, json_name)
            if job.create:
                _out, err, _status = self._execute(*args, os.fsencode(tmp))
            else:
                _out, err, _status = self._execute(*args, "-o", os.fsencode(tmp), os.fsencode(job.target))
        if tmp.exists():
            return None
        return _first_error(err) or "exiftool did not write the file"

    def _finalise_all(self, pairs: list[tuple[WriteJob, Path]]) -> list[str | None]:
        if not pairs:
            return []
        if len(pairs) == 1:
            results = [_finalise(*pairs[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._fsync_workers, thread_name_prefix="landmarks-fsync")
            results = list(self._pool.map(lambda p: _finalise(*p), pairs))
        for folder in {job.target.parent for job, _ in pairs}:
            _fsync_dir(folder)
        return results


def _finalise(job: WriteJob, tmp: Path) -> str | None:
    """Give the temporary the original's mode, owner and times, make it durable, rename it."""
    try:
        if job.create:
            _fsync_file(tmp)
            try:
                os.link(tmp, job.target)  # unlike rename, never replaces a file that appeared meanwhile
            except FileExistsError:
                return f"{job.target.name} appeared during the run; left alone"
            except OSError:  # a file system without hard links: check, then rename
                if job.target.exists():
                    return f"{job.target.name} appeared during the run; left alone"
                os.replace(tmp, job.target)
                return None
            tmp.unlink()
            return None
        st = os.stat(job.target)
        if job.expected is not None and job.expected != (st.st_size, st.st_mtime_ns):
            return "the file changed during the run; left alone"
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if hasattr(os, "chown"):
            tst = os.stat(tmp)
            if (tst.st_uid, tst.st_gid) != (st.st_uid, st.st_gid):
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, st.st_uid, st.st_gid)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        _fsync_file(tmp)
        os.replace(tmp, job.target)
        return None
    except OSError as exc:
        return f"could not replace the file: {exc.strerror or exc}"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable too (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_only_reason(target: Path, exists: bool) -> str | None:
    """Why `target` must not be written. Mode bits count even for root, who may write anything."""
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    if exists:
        st = os.stat(target)
        if not (st.st_mode & write_bits) or not os.access(target, os.W_OK):
            return "the file is read-only"
    folder = target.parent
    if not (os.stat(folder).st_mode & write_bits) or not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is read-only"
    return None


def read_gps(path: Path | str) -> tuple[float, float] | None:
    """Signed (latitude, longitude) a photo or XMP sidecar already carries, or None.

    Raises `BadImageError` for a file exiftool cannot read.
    """
    path = Path(path)
    with ExifToolSession() as session:
        info = session.inspect([path])[0]
    if info.error:
        raise BadImageError(f"{path}: {info.error}")
    return info.gps
