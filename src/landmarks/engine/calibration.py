"""Temperature scaling and the "not one of our landmarks" decision: the last step of fitting a model.

Why: a closed-set classifier is confident on anything. Temperature scaling makes the probabilities
honest (low ECE); the decision (`retrieval/decision.py`) then combines the top probability with how
close the photo comes to the training photos, and its threshold is the one at which a target share of
the answers given are right, on val photos plus photos of no landmark at all (negatives): a wrong
location written into a photo is the worst outcome, so precision is what the threshold is chosen for.

All of it is fitted on a calibration part of val, held out (seeded, per class) from the part that
picks the best epoch (photos that chose the weights would make the model look surer than it is), and
on negatives the head never trained on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

from landmarks.engine.checkpoint import Calibration
from landmarks.engine.landmark_probe import LandmarkGate, fit_landmark_gate
from landmarks.engine.logistic import fit_logistic
from landmarks.engine.open_set import auroc, gap, threshold_for_precision
from landmarks.retrieval.decision import (
    DECISION_SCORES,
    DecisionRule,
    DecisionScore,
    EvidenceProbability,
    decide,
    decision_features,
)
from landmarks.retrieval.index import EmbeddingIndex


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
    embeddings: np.ndarray,
    negative_log_probs: torch.Tensor,
    negative_embeddings: np.ndarray,
    index: EmbeddingIndex,
    *,
    score: DecisionScore,
    target_precision: float,
    knn_k: int,
    vote_weight: float = 0.0,
    evidence_probability: EvidenceProbability = "classifier",
    negative_groups: Sequence[str] | None = None,
    landmark_gate: bool = True,
    seed: int = 0,
    details: dict[str, object] | None = None,
) -> Calibration:
    """Temperature on the calibration photos, then the decision rule of every score on those photos plus the
    calibration negatives (photos of no landmark, which count as wrong wherever they are answered). With
    negatives of two groups or more (and `landmark_gate`), the fused score gets the landmark probe's gate.

    The answers are made by `decide`, exactly as inference makes them (kNN similarity, vote mixing)."""
    temperature = fit_temperature(log_probs, targets)
    base = DecisionRule(
        score="max_softmax", knn_k=knn_k, vote_weight=vote_weight, evidence_probability=evidence_probability
    )

    def answered(lp: torch.Tensor, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(lp) == 0:
            return np.zeros((0, lp.shape[1])), np.zeros(0), np.zeros(0)
        shown = decide(base, calibrated_probs(lp, temperature).numpy(), emb, index)
        assert shown.knn_similarity is not None and shown.evidence is not None
        return shown.probs, shown.evidence, shown.knn_similarity

    answer, known_prob, known_knn = answered(log_probs, embeddings)
    negative_answer, negative_prob, negative_knn = answered(negative_log_probs, negative_embeddings)
    max_prob = np.concatenate([known_prob, negative_prob])
    knn = np.concatenate([known_knn, negative_knn])
    n, n_negatives = len(answer), len(negative_answer)
    correct = np.concatenate([answer.argmax(axis=1) == targets.numpy(), np.zeros(n_negatives, dtype=bool)])
    negative = np.concatenate([np.zeros(n, dtype=bool), np.ones(n_negatives, dtype=bool)])
    groups = list(negative_groups) if negative_groups is not None else [str(i) for i in range(n_negatives)]
    gate = None
    if landmark_gate and len(set(groups)) >= 2:
        gate = fit_landmark_gate(index, embeddings, negative_embeddings, groups, seed)
    rules = {
        name: fit_decision(
            max_prob,
            knn,
            correct,
            negative,
            score=name,
            target_precision=target_precision,
            knn_k=knn_k,
            landmark=gate if name == "fused" else None,
        )
        for name in DECISION_SCORES
    }
    for each in rules.values():
        each.vote_weight = vote_weight
        each.evidence_probability = evidence_probability
    rule = rules[score]
    return Calibration(
        temperature=temperature,
        threshold=rule.threshold,
        score=score,
        decision=rule,
        details={
            "n_calibration": len(targets),
            "n_negatives": n_negatives,
            "alternatives": {name: r.to_dict() for name, r in rules.items()},
            **(details or {}),
        },
    )


def fit_decision(
    max_prob: np.ndarray,
    knn_similarity: np.ndarray,
    correct: np.ndarray,
    negative: np.ndarray,
    *,
    score: DecisionScore,
    target_precision: float,
    knn_k: int,
    landmark: LandmarkGate | None = None,
) -> DecisionRule:
    """The decision rule for `score`, with the threshold at which `target_precision` of the answers given
    (on these calibration photos and negatives) are right, keeping as many right answers as possible."""
    correct = np.asarray(correct, dtype=bool)
    negative = np.asarray(negative, dtype=bool)
    weights = [1.0, 0.0, 0.0]
    note = None
    if score == "fused":
        if correct.all() or not correct.any():  # nothing to learn the weights from: both signals, equally
            weights, note = [1.0, 1.0, 0.0], "weights not fitted: all calibration answers were right (or all wrong)"
        else:
            # Negatives weigh as much in total as the landmark photos: a real library holds far more of them.
            weight = np.where(negative, max(1.0, (~negative).sum() / max(1, negative.sum())), 1.0)
            x = decision_features(max_prob, knn_similarity)
            weights = fit_logistic(x, correct.astype(np.float64), weight=weight)
    rule = DecisionRule(score=score, weights=weights, knn_k=knn_k, target_precision=target_precision)
    if landmark is not None:
        rule.landmark_probe, rule.landmark_gate = landmark.probe, landmark.gate
    confidence = rule.confidence(max_prob, knn_similarity, landmark.logits if landmark is not None else None)
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
    if landmark is not None:
        logits = landmark.logits
        rule.fitted["landmark_gate"] = {
            "training_photos": landmark.n_positives,
            "negatives_out_of_fold": int(negative.sum()),
            "auroc_photos_vs_negatives": auroc(logits[known], logits[negative]),
        }
    if note:
        rule.fitted["note"] = note
    return rule
