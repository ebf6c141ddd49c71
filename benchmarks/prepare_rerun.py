"""Seconds `prepare_dataset` takes on a first run and on a rerun over unchanged files (manifest reused).

The rerun only lists the folder and reads JSON; this prints both times (they were timed assertions
in the unit tests, which a shared machine makes flaky). A fresh cache in a temporary folder is used.

Run:  .venv/bin/python benchmarks/prepare_rerun.py [--data ../shared/data/proxy44] [--image-size 64]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from landmarks.data.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "proxy44")
    p.add_argument("--image-size", type=int, default=64, help="decoded size (64: JPEG draft decoding, fast)")
    p.add_argument("--reruns", type=int, default=3, help="reruns timed; the fastest and slowest are printed")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="landmarks-bench-") as tmp:
        options = {"cache": Path(tmp), "image_size": args.image_size, "progress": False, "plots": False}
        started = time.perf_counter()
        first = prepare_dataset(args.data, **options)  # type: ignore[arg-type]
        first_s = time.perf_counter() - started
        reruns = []
        for _ in range(args.reruns):
            started = time.perf_counter()
            again = prepare_dataset(args.data, **options)  # type: ignore[arg-type]
            reruns.append(time.perf_counter() - started)
            assert again.reused
    figures = {
        "benchmark": "prepare_rerun",
        "photos": len(first.train) + len(first.val) + len(first.test),
        "first_s": round(first_s, 2),
        "rerun_min_s": round(min(reruns), 3),
        "rerun_max_s": round(max(reruns), 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
