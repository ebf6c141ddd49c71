"""Library index scan: a cold scan of N photos (all new), a warm rescan (none changed), a rescan with some changed.

Photos: `--templates` real proxy44 test JPEGs (the smallest ones), each given a camera (make, model,
serial or none), a time zone or none, and for one in three EXIF GPS by one exiftool process; then
copied to N files in nested folders, each copy with its own DateTimeOriginal patched in place (same
length, so the EXIF stays valid and every copy has its own content digest) and its own mtime. Building
is not timed. The files were just written, so the cold scan reads them from the page cache: it times
hashing, exiftool and SQLite, not the disk.

Run:  PYTHONPATH=src .venv/bin/python benchmarks/library_scan.py [--photos 10000] [--templates 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from _common import PROXY44
from landmarks.library.db import open_library
from landmarks.library.scan import scan_library

CAMERAS = [
    ("Canon", "EOS R5", "032021001234"),
    ("SONY", "ILCE-7M3", "4567890"),
    ("Apple", "iPhone 13", None),
    ("FUJIFILM", "X-T3", "93A12345"),
]
OFFSETS = ["+02:00", "-05:00", None, "+09:00"]
PLACEHOLDER = "1999:01:01 00:00:00"


def build_library(root: Path, photos: int, templates: int) -> None:
    import exiftool

    sources = sorted((PROXY44 / "test").rglob("*.jpg"), key=lambda p: p.stat().st_size)[:templates]
    if len(sources) < templates:
        raise SystemExit(f"need {templates} photos in {PROXY44 / 'test'}, found {len(sources)}")
    tdir = root.parent / "templates"
    tdir.mkdir()
    with exiftool.ExifTool(common_args=None) as et:
        for i, src in enumerate(sources):
            make, model, serial = CAMERAS[i % len(CAMERAS)]
            tags = [f"-EXIF:Make={make}", f"-EXIF:Model={model}", f"-EXIF:DateTimeOriginal={PLACEHOLDER}"]
            tags += [f"-ExifIFD:SerialNumber={serial}"] if serial else []
            tags += [f"-EXIF:OffsetTimeOriginal={OFFSETS[i % len(OFFSETS)]}"] if OFFSETS[i % len(OFFSETS)] else []
            if i % 3 == 0:
                tags += [f"-GPS:GPSLatitude={10 + i}", "-GPS:GPSLatitudeRef=N", "-GPS:GPSLongitude=20",
                         "-GPS:GPSLongitudeRef=E"]  # fmt: skip
            et.execute("-q", *tags, "-o", str(tdir / f"t{i:03d}.jpg"), str(src))
    blobs = [(tdir / f"t{i:03d}.jpg").read_bytes() for i in range(templates)]
    marker = PLACEHOLDER.encode()
    assert all(b.count(marker) == 1 for b in blobs), "DateTimeOriginal must appear once in each template"
    start = datetime(2020, 1, 1)
    for k in range(photos):
        taken = start + timedelta(minutes=7 * k)
        folder = root / f"{taken:%Y}" / f"{taken:%m}-trip{k // 250:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = blobs[k % templates].replace(marker, f"{taken:%Y:%m:%d %H:%M:%S}".encode())
        path = folder / f"IMG_{k:05d}.jpg"
        path.write_bytes(data)
        stamp = taken.timestamp()
        os.utime(path, (stamp, stamp))


def timed_scan(root: Path, db_path: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    with open_library(root, db_path) as db:
        summary = scan_library(root, db, progress=False)
    return time.perf_counter() - started, summary.as_dict()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=10_000)
    p.add_argument("--templates", type=int, default=40)
    p.add_argument("--changed", type=int, default=100, help="photos rewritten before the third scan")
    p.add_argument("--tmp", type=Path, default=None, help="where to build the library (default: system temp)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="landmarks-library-bench-", dir=args.tmp) as tmp:
        root, db_path = Path(tmp) / "library", Path(tmp) / "index.sqlite"
        root.mkdir()
        t = time.perf_counter()
        build_library(root, args.photos, args.templates)
        build_s = time.perf_counter() - t
        size_mb = sum(f.stat().st_size for f in root.rglob("*.jpg")) / 1e6

        cold_s, cold = timed_scan(root, db_path)
        assert cold["new"] == args.photos and cold["unreadable"] == 0, cold
        warm_s, warm = timed_scan(root, db_path)
        assert warm["unchanged"] == args.photos and warm["hashed"] == warm["exiftool_calls"] == 0, warm
        changed = sorted(root.rglob("*.jpg"))[:: max(1, args.photos // max(args.changed, 1))][: args.changed]
        for path in changed:
            data = path.read_bytes()
            path.write_bytes(data.replace(b"Canon", b"Nanoc") if b"Canon" in data else data + b"\0")
        some_s, some = timed_scan(root, db_path)
        assert some["changed"] == len(changed) and some["unchanged"] == args.photos - len(changed), some
        shutil.rmtree(root)

    figures = {
        "benchmark": "library_scan",
        "photos": args.photos,
        "templates": args.templates,
        "library_mb": round(size_mb, 1),
        "build_s": round(build_s, 1),
        "cold_s": round(cold_s, 2),
        "cold_photos_per_s": round(args.photos / cold_s, 1),
        "cold_timings": cold["timings"],
        "warm_s": round(warm_s, 2),
        "warm_timings": warm["timings"],
        "changed": len(changed),
        "rescan_changed_s": round(some_s, 2),
        "exiftool_calls_cold": cold["exiftool_calls"],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(
        f"cold scan of {args.photos} photos: {cold_s:.1f} s ({args.photos / cold_s:.0f} photos/s); "
        f"warm rescan: {warm_s:.2f} s; rescan with {len(changed)} changed: {some_s:.2f} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
