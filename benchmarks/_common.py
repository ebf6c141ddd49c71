"""Shared by the training benchmarks: where proxy44 is, and one line of figures per run."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROXY44 = REPO.parent / "shared" / "data" / "proxy44"


def parser(description: str, budget_min: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, default=PROXY44, help="train/ test/ folder (default: ../shared/data/proxy44)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary folder)")
    p.add_argument("--time-budget", type=float, default=budget_min, help="minutes of wall time for the whole run")
    p.add_argument(
        "--reuse-cache",
        action="store_true",
        help="reuse decoded photos and features from ~/.cache/landmarks (default: a fresh cache, i.e. from nothing)",
    )
    return p


def run(config_kwargs: dict[str, Any], args: argparse.Namespace, label: str) -> dict[str, Any]:
    """Train from nothing with `engine.train.run` (fit, then test), then print and return the figures."""
    from landmarks.engine.train import TrainConfig
    from landmarks.engine.train import run as fit_and_test

    with tempfile.TemporaryDirectory(prefix="landmarks-bench-") as tmp:
        out = args.out or Path(tmp) / "run"
        cache = None if args.reuse_cache else Path(tmp) / "cache"
        started = time.perf_counter()
        result = fit_and_test(
            TrainConfig(data=args.data, out=out, cache=cache, time_budget_min=args.time_budget, **config_kwargs)
        )
        wall = time.perf_counter() - started
    m = result.metrics
    figures = {
        "benchmark": label,
        "test_top1": round(m.get("test_top1", float("nan")), 4),
        "test_top3": round(m.get("test_top3", float("nan")), 4),
        "val_top1": round(m["val_top1"], 4),
        "wall_min": round(wall / 60, 1),
        "budget_min": args.time_budget,
        "train_images_per_s": round(m.get("feature_images_per_s", m.get("train_images_per_s", 0.0)), 1),
        "epochs": m.get("epochs_run"),
    } | {k: m[k] for k in ("feature_views",) if k in m}
    print(json.dumps(figures))
    return figures
