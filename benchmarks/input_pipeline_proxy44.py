"""Images/s of one training epoch fed from the decoded-image cache vs. decoding the JPEGs every time.

Both runs use the same photos (everything usable under proxy44/train), the same TrainPreset, batch
size, DataLoader workers and torch threads, and the same random seed; only the source of the pixels
differs. The cache is filled first (untimed: that is `landmarks data prepare`'s one-off cost), then:

  decode   FileImageDataset: open, decode, EXIF-rotate and convert each JPEG, then augment
  disk     CachedImageDataset, a fresh store: read the decoded uint8 arrays from disk, then augment
  memory   the same store again: the tensors are now in memory (every epoch after the first)

On a shared machine one epoch's rate is noisy, so the three alternate `--repeats` times and the
best epoch of each is reported. With --workers > 0 each worker process holds its own copy in memory.

Run:  .venv/bin/python benchmarks/input_pipeline_proxy44.py [--threads 1] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from landmarks.data.cache import DecodedImageStore
from landmarks.data.datasets import CachedImageDataset, FileImageDataset, make_loader
from landmarks.data.prepare import prepare_dataset
from landmarks.data.transforms import TrainPreset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "proxy44"


def epoch_rate(dataset: Dataset[tuple[torch.Tensor, int]], batch_size: int, workers: int, seed: int) -> float:
    """Images per second over one full pass of a DataLoader (batches collated, as training sees them)."""
    torch.manual_seed(seed)
    loader = make_loader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, seed=seed)
    seen = 0
    start = time.perf_counter()
    for images, _labels in loader:
        seen += images.shape[0]
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset root (train/, test/)")
    parser.add_argument("--cache", type=Path, default=None, help="cache directory [default: a temporary one]")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--crop", type=int, default=224, help="training crop size")
    parser.add_argument("--cache-size", type=int, default=256, help="shorter side of cached images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of the three epochs; best kept")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="landmarks-bench-") as scratch:
        cache = args.cache or Path(scratch)
        prepared = prepare_dataset(args.data, cache=cache, image_size=args.cache_size, plots=False)
        samples = [*prepared.train, *prepared.val]  # every usable photo under train/
        transform = TrainPreset(args.crop, prepared.mean, prepared.std)

        print(
            f"{len(samples)} photos from {prepared.root / 'train'}; batch {args.batch_size}, "
            f"{args.workers} DataLoader workers, {args.threads} torch threads, TrainPreset({args.crop}), "
            f"cache at {args.cache_size} px; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs"
        )
        from_files = FileImageDataset(samples, transform)
        decode = from_disk = in_memory = 0.0
        for _ in range(args.repeats):
            # A fresh store reads every array from disk (the first epoch of a new process) ...
            store = DecodedImageStore(prepared.images_dir, args.cache_size, digests=prepared.digests)
            cached = CachedImageDataset(samples, store, transform)
            from_disk = max(from_disk, epoch_rate(cached, args.batch_size, args.workers, args.seed))
            # ... and then holds them in memory (every later epoch).
            in_memory = max(in_memory, epoch_rate(cached, args.batch_size, args.workers, args.seed))
            decode = max(decode, epoch_rate(from_files, args.batch_size, args.workers, args.seed))
        print(f"decode JPEGs every epoch : {decode:8.1f} images/s")
        print(f"cache, first epoch (disk): {from_disk:8.1f} images/s   x{from_disk / decode:.2f}")
        print(f"cache, later epochs (RAM): {in_memory:8.1f} images/s   x{in_memory / decode:.2f}")


if __name__ == "__main__":
    main()
