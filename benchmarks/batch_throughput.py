"""`landmarks batch` throughput: the local engine vs Ray Data with 1 and 2 actors, on the same photos, one run.

Photos: `--photos` copies of real photos (proxy44 test, everyday, then proxy44 train; each at most
512 px on the long side, as stored) in a temporary folder, so every engine reads the same files
cold-ish from the page cache. Each engine writes a fresh Parquet results folder through `run_batch`,
exactly what the CLI runs (listing, model load in the driver, Parquet writing included).

Ray runs on a local Ray started once by this script (`ray.init(num_cpus=os.cpu_count())`); its start
is timed apart. Its session files and HOME (Ray keeps an auth token in ~/.ray) live in the temporary
folder. Two stage figures, measured on `--stage-photos` photos, say where the time goes: decoding
alone (read + SHA-256 + decode, 2 threads) and the model alone (already decoded photos).

Run:  nice -n 10 .venv/bin/python benchmarks/batch_throughput.py --checkpoint runs/library-mix/best.pt
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def gather(n: int) -> list[Path]:
    pools = [sorted((DATA / "proxy44" / "test").rglob("*.jpg")), sorted((DATA / "everyday").glob("*.*")),
             sorted((DATA / "proxy44" / "train").rglob("*.jpg"))]  # fmt: skip
    photos = [p for pool in pools for p in pool][:n]
    if len(photos) < n:
        raise SystemExit(f"only {len(photos)} photos found under {DATA}; pass a smaller --photos")
    return photos


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--photos", type=int, default=2000)
    p.add_argument("--stage-photos", type=int, default=400)
    p.add_argument("--camera-photos", type=int, default=60, help="12 MP JPEGs for the camera-size decode stage")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--engines", default="local,ray1,ray2", help="comma-separated: local, ray1, ray2")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lmbatch-", dir="/tmp"))
    os.environ.update(HOME=str(work / "home"), RAY_USAGE_STATS_ENABLED="0", LANDMARKS_CACHE=str(work / "cache"))
    (work / "home").mkdir()
    try:
        photos_dir = work / "photos"
        photos_dir.mkdir()
        for i, photo in enumerate(gather(args.photos)):
            shutil.copyfile(photo, photos_dir / f"{i:05d}{photo.suffix.lower()}")
        print(f"{args.photos} photos in {photos_dir}; {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        stages(photos_dir, args)
        outs = [timed(engine, photos_dir, work, args) for engine in args.engines.split(",")]
        compare(outs)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def stages(photos_dir: Path, args: argparse.Namespace) -> None:
    from landmarks.batch.decode import decode
    from landmarks.batch.recognise import ModelInfo, Recogniser
    from landmarks.batch.sources import list_sources
    from landmarks.inference.predictor import Predictor

    t = time.perf_counter()
    predictor = Predictor.load(args.checkpoint)
    print(f"model load: {time.perf_counter() - t:.1f} s")
    info = ModelInfo.of(predictor, 3)
    photos = list_sources([str(photos_dir)])[0][: args.stage_photos]
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        decoded = list(pool.map(lambda ph: decode(ph, info.min_side), photos))
    seconds = time.perf_counter() - t
    print(f"stage decode only (2 threads): {len(photos) / seconds:.1f} photos/s")
    camera = camera_photos(photos_dir.parent / "camera", photos[: args.camera_photos])
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda ph: decode(ph, info.min_side), camera))
    seconds = time.perf_counter() - t
    size = sum(c.size for c in camera) / len(camera) / 1e6
    print(f"stage decode only, 12 MP JPEGs ({size:.1f} MB each, draft mode, 2 threads): "
          f"{len(camera) / seconds:.1f} photos/s")  # fmt: skip
    recogniser = Recogniser(info, args.batch_size, predictor=predictor)
    recogniser.rows(decoded[: args.batch_size])  # warm-up
    t = time.perf_counter()
    for i in range(0, len(decoded), args.batch_size):
        recogniser.rows(decoded[i : i + args.batch_size])
    seconds = time.perf_counter() - t
    print(f"stage model only (batch {args.batch_size}): {len(decoded) / seconds:.1f} photos/s")


def camera_photos(folder: Path, photos: list) -> list:  # type: ignore[type-arg]
    """Camera-sized copies (4000x3000, film-grain noise so they compress like real photos)."""
    import numpy as np
    from PIL import Image

    from landmarks.batch.sources import list_sources

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, photo in enumerate(photos):
        big = np.asarray(Image.open(photo.path).convert("RGB").resize((4000, 3000), Image.BICUBIC), dtype=np.int16)
        grain = rng.integers(-6, 7, size=big.shape, dtype=np.int16)
        Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8)).save(folder / f"{i:04d}.jpg", quality=92)
    return list_sources([str(folder)])[0]


def timed(engine: str, photos_dir: Path, work: Path, args: argparse.Namespace) -> Path:
    from landmarks.batch.run import run_batch

    actors = 1
    if engine.startswith("ray"):
        import ray

        actors = int(engine[3:] or 1)
        if not ray.is_initialized():
            t = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), _temp_dir=str(work / "ray"), include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
            print(f"ray.init (local, not counted below): {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    summary = run_batch([str(photos_dir)], str(work / f"out-{engine}"), engine="ray" if actors and engine != "local"
                        else "local", checkpoint=args.checkpoint, batch_size=args.batch_size, actors=actors,
                        progress=False)  # fmt: skip
    seconds = time.perf_counter() - t
    assert summary.written == args.photos, summary
    print(f"{engine:>6}: {seconds:6.1f} s  {summary.written / seconds:6.1f} photos/s  "
          f"({summary.errors} errors; model load, listing and Parquet writing included)")  # fmt: skip
    parts = list((work / f"out-{engine}").glob("*.parquet"))
    size = sum(p.stat().st_size for p in parts)
    print(f"        {len(parts)} Parquet parts, {size / summary.written:.0f} bytes a row")
    return work / f"out-{engine}"


def compare(outs: list[Path]) -> None:
    """Same answers on every engine: identical top-k and decisions, the largest probability difference."""
    from landmarks.batch.parquet import read_results

    first = {r["path"]: r for r in read_results(outs[0]).to_pylist()}
    for out in outs[1:]:
        rows = {r["path"]: r for r in read_results(out).to_pylist()}
        assert rows.keys() == first.keys()
        same = sum(
            [g["class_index"] for g in rows[p]["top_k"]] == [g["class_index"] for g in first[p]["top_k"]]
            and rows[p]["decision"] == first[p]["decision"]
            for p in rows
        )
        diff = max(
            (abs(a["probability"] - b["probability"]) for p in rows
             for a, b in zip(rows[p]["top_k"], first[p]["top_k"], strict=False)),
            default=0.0,
        )  # fmt: skip
        print(f"{out.name} vs {outs[0].name}: {same}/{len(rows)} rows with the same top-k and decision, "
              f"largest probability difference {diff:.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
