"""Temperature scaling and the "not one of our landmarks" decision: the last step of fitting a model.

Why: a closed-set classifier is confident on anything. Temperature scaling makes the probabilities
honest (low ECE); the threshold is then picked on in-distribution photos so that a chosen share of
*correct* answers stays above it; anything below is answered as unknown (the top-k is still shown).

Both are fitted on a calibration part of val, held out (seeded, per class) from the part that picks
the best epoch: photos that chose the weights would make the model look surer than it is.

Two scores are fitted: the calibrated top probability ("max_softmax") and the cosine similarity of a
photo's backbone features to the nearest class centre ("centroid_cosine", centres from the train
split). `benchmarks/ood_proxy44.py` measures both; the calibrated softmax is the better one there, so
it is the default and the centroid score stays available by option.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from landmarks.engine.checkpoint import Calibration
from landmarks.engine.open_set import auroc, gap, threshold_for_precision
from landmarks.retrieval.decision import DecisionRule, DecisionScore, decision_features

UnknownScore = Literal["max_softmax", "centroid_cosine"]
UNKNOWN_SCORES: tuple[UnknownScore, ...] = ("max_softmax", "centroid_cosine")


def fit_temperature(log_probs: torch.Tensor, targets: torch.Tensor, max_iter: int = 200) -> float:
    """The T > 0 minimising NLL of softmax(log_probs / T) (Guo et al., 2017). log-probs or logits both work."""
    log_probs = log_probs.detach().float()
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(log_probs / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return min(max(t, 0.05), 20.0)


def calibrated_probs(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(log_probs.float() / temperature, dim=-1)


def choose_threshold(scores: torch.Tensor, correct: torch.Tensor, keep: float = 0.95) -> float:
    """The score that keeps `keep` of the correct in-distribution answers above it."""
    kept = scores[correct.bool()]
    if kept.numel() == 0:
        return 0.0
    return float(torch.quantile(kept.float(), 1 - keep))


def class_centroids(features: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[C, F] unit vectors: the mean direction of each class's (unit-normalised) features."""
    unit = F.normalize(features.float(), dim=1)
    sums = torch.zeros(num_classes, unit.shape[1]).index_add_(0, targets, unit)
    return F.normalize(sums, dim=1)


def centroid_similarity(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """[N] cosine similarity of each feature vector to its nearest class centre."""
    return (F.normalize(features.float(), dim=1) @ centroids.float().T).max(dim=1).values


@dataclass(frozen=True)
class ValSplit:
    """Positions into the val samples: `select` picks the best epoch, `calibrate` fits temperature + threshold."""

    select: list[int]
    calibrate: list[int]
    fraction: float
    seed: int


def split_val(labels: Sequence[int], fraction: float, seed: int) -> ValSplit:
    """Hold out `fraction` of each class's val photos (seeded) for calibration; at least one photo of each
    class with two or more stays on each side. `fraction` 0 calibrates on the selection photos themselves."""
    everything = list(range(len(labels)))
    if fraction <= 0:
        return ValSplit(everything, everything, 0.0, seed)
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    select, calibrate = [], []
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        n = len(members)
        held = min(n - 1, max(1, round(n * fraction))) if n > 1 else 0
        calibrate += members[:held]
        select += members[held:]
    return ValSplit(sorted(select), sorted(calibrate), fraction, seed)


def calibrate(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    features: torch.Tensor,
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    *,
    score: UnknownScore,
    keep_correct: float,
    details: dict[str, object] | None = None,
) -> Calibration:
    """Temperature and a threshold per unknown score on the calibration photos; class centres from train."""
    temperature = fit_temperature(log_probs, targets)
    probs, predicted = calibrated_probs(log_probs, temperature).max(1)
    correct = predicted == targets
    centroids = class_centroids(train_features, train_targets, log_probs.shape[1])
    scores = {"max_softmax": probs, "centroid_cosine": centroid_similarity(features, centroids)}
    thresholds = {name: choose_threshold(s, correct, keep=keep_correct) for name, s in scores.items()}
    return Calibration(
        temperature=temperature,
        threshold=thresholds[score],
        score=score,
        centroids=centroids,
        details={
            "keep_correct": keep_correct,
            "n_calibration": len(targets),
            "thresholds": thresholds,
            **(details or {}),
        },
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, max_iter: int = 100) -> list[float]:
    """Weights w of P(y=1 | x) = sigmoid(x @ w), by L-BFGS on the mean log-loss (+ a small L2 on all but the
    last column, the bias): a probability that the answer is right, calibrated on the photos it saw."""
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    if float(yt.sum()) in (0.0, float(len(yt))):
        raise ValueError("the decision needs both right and wrong answers to learn from")
    w = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(xt @ w, yt)
        loss = loss + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return [float(v) for v in w.detach()]


def fit_decision(
    max_prob: np.ndarray,
    knn_similarity: np.ndarray,
    correct: np.ndarray,
    negative: np.ndarray,
    *,
    score: DecisionScore,
    target_precision: float,
    knn_k: int,
) -> DecisionRule:
    """The decision rule for `score`, with the threshold at which `target_precision` of the answers given
    (on these calibration photos and negatives) are right, keeping as many right answers as possible."""
    correct = np.asarray(correct, dtype=bool)
    negative = np.asarray(negative, dtype=bool)
    weights = [1.0, 0.0, 0.0]
    if score == "fused":
        weights = fit_logistic(decision_features(max_prob, knn_similarity), correct.astype(np.float64))
    rule = DecisionRule(score=score, weights=weights, knn_k=knn_k, target_precision=target_precision)
    confidence = rule.confidence(max_prob, knn_similarity)
    point = threshold_for_precision(confidence, correct, negative, target_precision)
    rule.threshold = float(point.threshold) if np.isfinite(point.threshold) else 1.0
    known = ~negative
    rule.fitted = {
        "photos": int(known.sum()),
        "negatives": int(negative.sum()),
        "operating_point": asdict(point),
        "gap": gap(confidence, correct, negative),
        "auroc_known_vs_negatives": auroc(confidence[known], confidence[negative]) if negative.any() else None,
    }
    return rule
