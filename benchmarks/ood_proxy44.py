"""How honest is "not one of our landmarks"? The fixed open-set protocol on real photos.

Seed 0 picks 14 of the 44 proxy44 classes as unknown (the four Qutb-complex classes stay together on
one side); a model is trained on the other 30 with the default recipe; its 30 classes' test photos are
scored against the 14 unknown classes' test photos plus ../shared/data/not_landmarks. Twice: with the
fitting half of ../shared/data/everyday as negatives (as in library_mix.py), and without. Prints OOD
AUROC per decision score, and top-1 accuracy at 90 % coverage of the in-distribution test photos.

    .venv/bin/python benchmarks/ood_proxy44.py
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import torch
from torchmetrics.functional.classification import binary_auroc

from _common import EVERYDAY, NOT_LANDMARKS, PROXY44, REPO, negative_halves, outputs

QUTB = ("qutub_minar", "alai_minar", "alai_darwaza", "iron_pillar")


def pick_unknown(classes: list[str], n_unknown: int = 14, seed: int = 0) -> list[str]:
    """Seeded choice of unknown classes; the Qutb complex is one unit, so it lands wholly on one side."""
    units: list[tuple[str, ...]] = [QUTB] + [(c,) for c in classes if c not in QUTB]
    random.Random(seed).shuffle(units)
    chosen: list[str] = []
    for unit in units:
        if len(chosen) + len(unit) <= n_unknown:
            chosen.extend(unit)
        if len(chosen) == n_unknown:
            break
    return sorted(chosen)


def known_view(root: Path, known: list[str], dest: Path) -> Path:
    """A train/ test/ folder of symlinks to the known classes only (the real photos stay where they are)."""
    for split in ("train", "test"):
        (dest / split).mkdir(parents=True)
        for c in known:
            (dest / split / c).symlink_to(root / split / c, target_is_directory=True)
    (dest / "catalog.csv").symlink_to(root / "catalog.csv")
    return dest


def accuracy_at_coverage(scores: torch.Tensor, correct: torch.Tensor, coverage: float) -> float:
    keep = scores.argsort(descending=True)[: max(1, round(coverage * len(scores)))]
    return float(correct[keep].float().mean())


def photos(split_root: Path, names: list[str]) -> list[Path]:
    return sorted(f for c in names for f in (split_root / c).iterdir() if f.is_file())


def score_figures(rule: Any, index: Any, known: tuple, unknown: tuple, truth: torch.Tensor) -> dict:
    """AUROC of known vs unknown under `rule` (from the photos' network outputs, as `predict` decides), and
    what its stored threshold does on each side."""
    from landmarks.retrieval.decision import decide

    in_decided, out_decided = decide(rule, *known, index), decide(rule, *unknown, index)
    in_scores, out_scores = torch.from_numpy(in_decided.confidence), torch.from_numpy(out_decided.confidence)
    correct = torch.from_numpy(in_decided.probs.argmax(axis=1)) == truth
    scores = torch.cat([in_scores, out_scores])
    is_known = torch.cat([torch.ones(len(in_scores)), torch.zeros(len(out_scores))]).long()
    return {
        "score": rule.score,
        "landmark_gate": rule.landmark_gate is not None,
        "auroc": round(float(binary_auroc(scores, is_known)), 4),
        "in_distribution_top1": round(float(correct.float().mean()), 4),
        "top1_at_90pct_coverage": round(accuracy_at_coverage(in_scores, correct, 0.9), 4),
        "threshold": round(rule.threshold, 4),
        "known_kept_at_threshold": round(float((in_scores >= rule.threshold).float().mean()), 4),
        "unknown_flagged_at_threshold": round(float((out_scores < rule.threshold).float().mean()), 4),
    }


def main() -> None:
    import argparse

    from landmarks.engine.train import TrainConfig, fit
    from landmarks.inference.predictor import Predictor
    from landmarks.retrieval.decision import DecisionRule

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=PROXY44)
    p.add_argument("--cache", type=Path, default=REPO / "runs" / "bench-cache", help="the benchmark's own cache")
    p.add_argument("--feature-views", type=int, default=None, help="override the recipe's feature views")
    p.add_argument("--vote-weight", type=float, default=None, help="override the recipe's kNN vote weight")
    p.add_argument("--no-landmark-gate", action="store_true", help="ablation: no landmark probe gating the score")
    p.add_argument("--evidence", choices=["classifier", "answer"], default=None, help="override the probability read")
    p.add_argument("--backbone", default=None)
    args = p.parse_args()

    classes = sorted(d.name for d in (args.data / "train").iterdir() if d.is_dir())
    unknown = pick_unknown(classes)
    known = [c for c in classes if c not in unknown]
    print(f"known ({len(known)}): {', '.join(known)}\nunknown ({len(unknown)}): {', '.join(unknown)}")
    variants = {}
    with tempfile.TemporaryDirectory(prefix="landmarks-ood-") as tmp:
        view = known_view(args.data, known, Path(tmp) / "known")
        fit_dir, _ = negative_halves(EVERYDAY, Path(tmp) / "negatives-fit", seed=0)
        chosen = {
            "feature_views": args.feature_views,
            "backbone": args.backbone,
            "vote_weight": args.vote_weight,
            "evidence_probability": args.evidence,
            "landmark_gate": False if args.no_landmark_gate else None,
        }
        overrides = {k: v for k, v in chosen.items() if v is not None}
        in_photos = photos(args.data / "test", known)
        out_photos = photos(args.data / "test", unknown) + sorted(NOT_LANDMARKS.glob("*.jpg"))
        truth = torch.tensor([known.index(path.parent.name) for path in in_photos])
        for name, negatives in (("with negatives", [fit_dir]), ("without negatives", [])):
            # Its own cache: the user's cache and "last trained model" stay as they were.
            out = Path(tmp) / name.replace(" ", "-")
            config = TrainConfig(data=view, out=out, cache=args.cache, negatives=negatives, **overrides)
            result = fit(config)
            predictor = Predictor.load(result.best)
            known_outputs, unknown_outputs = outputs(predictor, in_photos), outputs(predictor, out_photos)
            cal = predictor.checkpoint.calibration
            rules = {s: DecisionRule.from_dict(d) for s, d in cal.details["alternatives"].items()}
            index = predictor.known.index
            variants[name] = {
                "default_score": cal.score,
                "scores": [
                    score_figures(rule, index, known_outputs, unknown_outputs, truth) for rule in rules.values()
                ],
            }
    figures = {"n_known_photos": len(in_photos), "n_unknown_photos": len(out_photos), **variants}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
