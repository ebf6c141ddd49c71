"""Would geotagging a photo library write wrong locations? The default recipe on a library mix.

Seed 0 splits ../shared/data/everyday by ImageNet class: one half is given to `landmarks train` as
negatives (what a user's `--negatives` folder would be), the other half is never fitted on. The model
(default recipe, trained on proxy44) then answers proxy44 test (1100 landmark photos) + the unseen
everyday half + ../shared/data/not_landmarks. Prints GAP, top-1, and at the stored threshold the share
of landmark photos answered right / wrong and the share of negatives that would get a location; and, as
a bound fitted on test, the most right answers any threshold on the same score gives at <= 1 % of the
negatives answered.

    .venv/bin/python benchmarks/library_mix.py            # features cached in runs/bench-cache
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import EVERYDAY, NOT_LANDMARKS, PROXY44, REPO, negative_halves


def best_at_negatives(confidence: np.ndarray, right: np.ndarray, negative: np.ndarray, share: float) -> float:
    """The most landmark photos answered right by any threshold on this confidence that answers at most
    `share` of the negatives: what the score itself allows, chosen on test (a bound, never a result)."""
    thresholds = np.unique(np.concatenate([confidence, negative, [np.inf]]))
    allowed = [t for t in thresholds if (negative >= t).mean() <= share]
    return max(float(((confidence >= t) & right).mean()) for t in allowed)


def main() -> None:
    from landmarks.engine.library_figures import library_figures, write_precision_recall
    from landmarks.engine.train import TrainConfig, run
    from landmarks.inference.predictor import Predictor

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=PROXY44)
    p.add_argument("--cache", type=Path, default=REPO / "runs" / "bench-cache", help="the benchmark's own cache")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    p.add_argument("--seed", type=int, default=0, help="split of the everyday photos (by class)")
    p.add_argument("--no-negatives", action="store_true", help="train without the fitting half")
    p.add_argument("--feature-views", type=int, default=None, help="override the recipe's feature views")
    p.add_argument("--vote-weight", type=float, default=None, help="override the recipe's kNN vote weight")
    p.add_argument("--no-landmark-gate", action="store_true", help="ablation: no landmark probe gating the score")
    p.add_argument("--evidence", choices=["classifier", "answer"], default=None, help="override the probability read")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="landmarks-library-") as tmp:
        fit_dir, held_out = negative_halves(EVERYDAY, Path(tmp) / "negatives-fit", args.seed)
        n_fit = len(list(fit_dir.iterdir()))
        out = args.out or Path(tmp) / "run"
        chosen = {
            "feature_views": args.feature_views,
            "vote_weight": args.vote_weight,
            "evidence_probability": args.evidence,
            "landmark_gate": False if args.no_landmark_gate else None,
        }
        overrides: dict[str, Any] = {k: v for k, v in chosen.items() if v is not None}
        started = time.perf_counter()
        result = run(
            TrainConfig(
                data=args.data,
                out=out,
                cache=args.cache,
                negatives=[] if args.no_negatives else [fit_dir],
                negatives_source="benchmark: the fitting half of everyday",
                **overrides,
            )
        )
        train_min = (time.perf_counter() - started) / 60
        predictor = Predictor.load(result.best)
        test = sorted(f for f in (args.data / "test").rglob("*") if f.is_file() and f.suffix.lower() == ".jpg")
        classes = predictor.classes
        truth = np.array([classes.index(f.parent.name) for f in test])
        negatives = held_out + sorted(NOT_LANDMARKS.glob("*.jpg"))
        answers = predictor.predict_many(test, k=1, batch_size=32)
        negative_answers = predictor.predict_many(negatives, k=1, batch_size=32)
        confidence = np.array([a.score for a in answers])
        predicted = np.array([a.best.class_index for a in answers])
        negative_confidence = np.array([a.score for a in negative_answers])
        rule = predictor.rule
        figures = library_figures(confidence, predicted, truth, negative_confidence, rule)
        png = write_precision_recall(
            confidence, predicted, truth, negative_confidence, rule, Path(tmp) / "pr.png", title="library mix"
        )
        if args.out:
            (args.out / "library_mix.png").write_bytes(png.read_bytes())
        bound = best_at_negatives(confidence, predicted == truth, negative_confidence, 0.01)
        answered = [(a.source, a.best.name, round(a.score, 3)) for a in negative_answers if not a.unknown]
    print(
        json.dumps(
            {
                "benchmark": "library_mix",
                "negatives_fitted": 0 if args.no_negatives else n_fit,
                "test_top1_metrics": round(result.metrics.get("test_top1", float("nan")), 4),
                "train_min": round(train_min, 1),
                **figures,
                "bound_right_share_at_1pct_negatives_threshold_chosen_on_test": round(bound, 4),
                "negatives_answered": answered[:20],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
