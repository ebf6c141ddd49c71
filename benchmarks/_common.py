"""Shared by the training benchmarks: where proxy44 is, one line of figures per run, and a summary over seeds.

A recipe's test top-1 on 1100 photos moves by most of a point from one seed to the next, so a
comparison of recipes runs each `--seeds` times (seeds 0, 1, ...) and reports the mean and the
sample standard deviation; a difference smaller than the spread is not a difference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROXY44 = REPO.parent / "shared" / "data" / "proxy44"
EVERYDAY = REPO.parent / "shared" / "data" / "everyday"
NOT_LANDMARKS = REPO.parent / "shared" / "data" / "not_landmarks"


def negative_halves(folder: Path, fit_dir: Path, seed: int = 0) -> tuple[Path, list[Path]]:
    """Split a folder of negatives by class (seeded): a folder of links to the half training may fit on,
    and the other half's paths, never to be fitted on (evaluation only)."""
    import numpy as np

    from landmarks.data.negatives import collect_negatives

    photos = collect_negatives([folder])
    groups = sorted({p.group for p in photos})
    np.random.default_rng(seed).shuffle(groups)  # the split the recipe's choices were tuned on (fit half only)
    fit = set(groups[: len(groups) // 2])
    fit_dir.mkdir(parents=True)
    for photo in photos:
        if photo.group in fit:
            (fit_dir / photo.path.name).symlink_to(photo.path)
    return fit_dir, sorted(p.path for p in photos if p.group not in fit)


def outputs(predictor: Any, paths: list[Path], batch: int = 32) -> tuple[Any, Any]:
    """Calibrated probabilities [N, C] and embeddings [N, D] of photos, through the predictor's backend."""
    import numpy as np

    backend = predictor.backend
    probs, embs = [], []
    for start in range(0, len(paths), batch):
        decoded = [predictor._decode(p, backend) for p in paths[start : start + batch]]
        bad = [str(p) for p, d in zip(paths[start : start + batch], decoded, strict=True) if isinstance(d, Exception)]
        if bad:
            raise SystemExit(f"unreadable photos: {bad}")
        p, e = backend.run([tensor for _, tensor in decoded])
        probs.append(p)
        embs.append(e)
    return np.concatenate(probs), np.concatenate(embs)


def parser(description: str, budget_min: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, default=PROXY44, help="train/ test/ folder (default: ../shared/data/proxy44)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary folder)")
    p.add_argument("--time-budget", type=float, default=budget_min, help="minutes of wall time for each run")
    p.add_argument("--seeds", type=int, default=3, help="runs with seeds 0..N-1; mean ± std is printed (default 3)")
    p.add_argument(
        "--reuse-cache",
        action="store_true",
        help="reuse decoded photos and features from ~/.cache/landmarks (default: a fresh cache, i.e. from nothing)",
    )
    return p


def run(config_kwargs: dict[str, Any], args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One run per seed (`--seeds`), each from nothing; print each run's figures, then mean ± std."""
    if args.seeds < 1:
        raise SystemExit("--seeds must be at least 1")
    runs = [run_once(config_kwargs | {"seed": seed}, args, label, seed) for seed in range(args.seeds)]
    summary: dict[str, Any] = {"benchmark": label, "seeds": args.seeds}
    for key in ("test_top1", "test_top3", "val_top1", "wall_min"):
        values = [r[key] for r in runs]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        summary[key] = f"{statistics.fmean(values):.4f} ± {spread:.4f}"
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def run_once(config_kwargs: dict[str, Any], args: argparse.Namespace, label: str, seed: int) -> dict[str, Any]:
    """Train from nothing with `engine.train.run` (fit, then test), then print and return this run's figures."""
    from landmarks.engine.train import TrainConfig
    from landmarks.engine.train import run as fit_and_test

    with tempfile.TemporaryDirectory(prefix="landmarks-bench-") as tmp:
        out = args.out / f"seed-{seed}" if args.out else Path(tmp) / "run"
        cache = None if args.reuse_cache else Path(tmp) / "cache"
        started = time.perf_counter()
        result = fit_and_test(
            TrainConfig(data=args.data, out=out, cache=cache, time_budget_min=args.time_budget, **config_kwargs)
        )
        wall = time.perf_counter() - started
    m = result.metrics
    figures = {
        "benchmark": label,
        "seed": seed,
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
