"""Prediction latency: warm single-photo predict (decoding a 512-px JPEG included) and CLI start-to-answer.

.venv/bin/python benchmarks/predict_speed.py --checkpoint runs/lite0/best.pt
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import PROXY44, REPO


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--photos", type=Path, default=PROXY44 / "test", help="JPEGs to predict (512 px long side)")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--cli-runs", type=int, default=3)
    args = p.parse_args()

    from landmarks.inference.predictor import Predictor

    photos = sorted(args.photos.rglob("*.jpg"))[: args.repeats]
    started = time.perf_counter()
    predictor = Predictor.load(args.checkpoint)
    load_s = time.perf_counter() - started
    for photo in photos[:5]:  # warm-up: first calls allocate and pick kernels
        predictor.predict(photo, k=3)
    latencies = []
    for photo in photos:
        t = time.perf_counter()
        predictor.predict(photo, k=3)  # reads and decodes the JPEG, transforms, runs the model
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()

    cli = []
    for _ in range(args.cli_runs):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "landmarks", "predict", str(photos[0]), "--checkpoint", str(args.checkpoint)],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        cli.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "model": predictor.checkpoint.model.backbone or predictor.checkpoint.model.arch,
                "image_size": predictor.image_size,
                "load_s": round(load_s, 2),
                "warm_predict_ms_median": round(statistics.median(latencies), 1),
                "warm_predict_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
                "cli_start_to_answer_s_median": round(statistics.median(cli), 2),
                "photos": len(latencies),
            }
        )
    )


if __name__ == "__main__":
    main()
