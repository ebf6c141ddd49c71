"""Geotag throughput on 12 MP JPEGs (photos/s), through the same `geotag()` the CLI runs.

Photos: `--unique` real proxy44 photos (synthetic ones if ../shared/data is absent), upscaled to
4000x3000 with film-grain noise so each JPEG is camera-sized (~3-4 MB), then copied to `--photos`
files. Every timed run starts from fresh copies without GPS (copying is not timed), and writes
EXIF GPS + XMP into every photo (all predictions confident), fsync included.

Runs:
  write-only   a predictor that answers at once: the metadata pipeline alone (read, write, rename)
  decode       a predictor that decodes each photo as the real one does (JPEG draft mode) but runs
               no model: what the pipeline costs before the network
  full         the real Predictor from `--checkpoint` (model load timed separately), if given

Run:  .venv/bin/python benchmarks/geotag_speed.py [--checkpoint CKPT] [--photos 500] [--unique 25]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from landmarks.errors import LandmarksError
from landmarks.geotag.batch import GeotagOptions, geotag
from landmarks.inference.types import Guess, Prediction

REPO = Path(__file__).resolve().parents[1]
PROXY44 = REPO.parent / "shared" / "data" / "proxy44" / "test"
SIZE = (4000, 3000)
# (name, latitude, longitude, radius_km, city, country)
PLACES = [
    ("Eiffel Tower", 48.8584, 2.2945, 0.2, "Paris", "France"),
    ("Machu Picchu", -13.1631, -72.545, 1.0, "Cusco Region", "Peru"),
    ("Taj Mahal", 27.1751, 78.0421, 0.3, "Agra", "India"),
    ("Stonehenge", 51.1789, -1.8262, 0.2, "Amesbury", "United Kingdom"),
]


def make_sources(folder: Path, unique: int, seed: int = 0) -> list[Path]:
    """`unique` 12 MP JPEGs with camera-like entropy (upscaled real photos plus grain)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    found = sorted(PROXY44.rglob("*.jpg"))
    real = found[:: max(1, len(found) // unique)]
    sources = []
    for i in range(unique):
        if i < len(real):
            with Image.open(real[i]) as im:
                base = im.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
        else:
            base = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize(SIZE)
        pixels = np.asarray(base, dtype=np.int16)
        grain = rng.integers(-10, 11, size=(SIZE[1], SIZE[0], 1), dtype=np.int16)
        noisy = np.clip(pixels + grain, 0, 255).astype(np.uint8)
        path = folder / f"source_{i:03d}.jpg"
        Image.fromarray(noisy).save(path, quality=92)
        sources.append(path)
    return sources


def fresh_copies(sources: Sequence[Path], folder: Path, n: int) -> list[Path]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    photos = []
    for i in range(n):
        dest = folder / f"IMG_{i:04d}.jpg"
        shutil.copyfile(sources[i % len(sources)], dest)
        photos.append(dest)
    os.sync()  # start every run from the same state: nothing dirty in the page cache
    return photos


def _prediction(source: str, index: int) -> Prediction:
    name, lat, lon, radius, city, country = PLACES[index % len(PLACES)]
    guess = Guess(
        rank=1,
        class_index=index % len(PLACES),
        class_id=None,
        folder=name,
        name=name,
        probability=0.9,
        latitude=lat,
        longitude=lon,
        radius_km=radius,
        city=city,
        country=country,
    )
    return Prediction(source=source, top=[guess], unknown=False, score=0.9, threshold=0.5)


class InstantPredictor:
    """Confident answers without looking at the photo."""

    threshold = 0.5

    def predict_many(
        self, images: Sequence[Path], k: int = 3, batch_size: int = 16
    ) -> list[Prediction | LandmarksError]:
        return [_prediction(str(p), i) for i, p in enumerate(images)]


class DecodingPredictor(InstantPredictor):
    """Decodes each photo as the real predictor does (draft mode down to `min_side`), then answers."""

    def __init__(self, min_side: int = 256) -> None:
        self.min_side = min_side
        try:
            from landmarks.data.images import load_rgb
        except ImportError:  # before the data module exists: the same draft decode with PIL
            load_rgb = None
        self._load = load_rgb

    def _decode(self, path: Path) -> None:
        if self._load is not None:
            self._load(path, min_side=self.min_side)
            return
        with Image.open(path) as im:
            im.draft("RGB", (self.min_side, self.min_side))
            im.convert("RGB")

    def predict_many(
        self, images: Sequence[Path], k: int = 3, batch_size: int = 16
    ) -> list[Prediction | LandmarksError]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:  # as the real predictor decodes
            list(pool.map(self._decode, images))
        return super().predict_many(images, k, batch_size)


def timed_run(label: str, sources: Sequence[Path], work: Path, n: int, predictor: object, **options: int) -> float:
    photos = fresh_copies(sources, work / "photos", n)
    report = work / f"report-{label}.csv"
    cpu0, start = os.times(), time.perf_counter()
    # min_confidence 0: every photo with coordinates is written, whatever the model thinks of it
    summary = geotag(photos, predictor, report, options=GeotagOptions(min_confidence=0.0, **options))
    elapsed, cpu1 = time.perf_counter() - start, os.times()
    # CPU time of this process and its exiftool children (reaped when geotag() closes them): unlike
    # the wall clock it does not depend on what else the machine is running
    cpu_ms = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4], strict=True)) / n * 1000
    rate = n / elapsed
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.counts.items()))
    print(f"{label:<12} {n} photos in {elapsed:6.2f} s = {rate:6.1f} photos/s", end="")
    print(f"; CPU {cpu_ms:5.1f} ms/photo ({counts})", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--unique", type=int, default=25, help="distinct 12 MP images to generate")
    parser.add_argument("--checkpoint", type=Path, help="run the real predictor too")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--workdir", type=Path, help="where to generate the photos (default: a temp dir)")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="geotag-speed-"))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {work}")
    t = time.perf_counter()
    sources = make_sources(work / "sources", args.unique)
    size_mb = np.mean([p.stat().st_size for p in sources]) / 1e6
    origin = "upscaled proxy44 photos" if PROXY44.is_dir() else "synthetic: proxy44 absent"
    print(
        f"generated {len(sources)} x {SIZE[0]}x{SIZE[1]} JPEGs ({origin}, mean {size_mb:.1f} MB) "
        f"in {time.perf_counter() - t:.0f} s"
    )
    options = {"batch_size": args.batch_size, "chunk_size": args.chunk_size}
    try:
        timed_run("write-only", sources, work, args.photos, InstantPredictor(), **options)
        timed_run("decode", sources, work, args.photos, DecodingPredictor(), **options)
        if args.checkpoint is not None:
            from landmarks.inference.predictor import Predictor

            t = time.perf_counter()
            predictor = Predictor.load(args.checkpoint)
            print(f"model load   {time.perf_counter() - t:.2f} s ({args.checkpoint})")
            timed_run("full", sources, work, args.photos, predictor, **options)
        else:
            print("full         not run: no --checkpoint (the figures above exclude the model)")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
