"""The landmark probe: "a landmark photo at all?", learnt from the training photos against the negatives.

Why: the fused score (top probability + nearest training photo) is fitted to tell right answers from
wrong ones; photos of no landmark that happen to lie close to a training photo (a viaduct, a kite in the
sky) still pass it. A linear model over the whole embedding sees what separates the two kinds of photo
directly. Its logit feeds a gate that multiplies the fused score (`retrieval/decision.py`).

The negatives that fit the probe also fit the gate and the threshold. Scored by a probe that saw them
they would look easier than a user's photos, so each negative's logit comes from a probe fitted without
its group (folds by group, seeded); the probe that is stored is fitted on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from landmarks.data.negatives import group_rank
from landmarks.engine.logistic import balanced, fit_logistic
from landmarks.retrieval.decision import probe_logit
from landmarks.retrieval.index import EmbeddingIndex, normalise

PROBE_L2 = 1e-4
"""L2 on the probe's weights (with the classes weighted equally); chosen by cross-validation on val and the
fitting half of everyday (README: the library-mix row)."""
PROBE_FOLDS = 5
PROBE_MAX_ITER = 300


def fit_probe(positives: np.ndarray, negatives: np.ndarray, l2: float = PROBE_L2) -> list[float]:
    """[D + 1] weights, then the bias, of P(landmark photo | unit embedding), both sides weighted equally."""
    x = np.concatenate([normalise(positives), normalise(negatives)]).astype(np.float64)
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    return fit_logistic(x, y, weight=balanced(y), l2=l2, max_iter=PROBE_MAX_ITER)


def fold_of(groups: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """A fold per row: whole groups to one fold, in an order set by a hash of (seed, group)."""
    names = sorted(set(groups), key=lambda g: group_rank(seed, g))
    fold = {g: i % folds for i, g in enumerate(names)}
    return np.array([fold[g] for g in groups], dtype=np.int64)


def out_of_fold_logits(
    positives: np.ndarray,
    negatives: np.ndarray,
    groups: Sequence[str],
    *,
    seed: int = 0,
    folds: int = PROBE_FOLDS,
    l2: float = PROBE_L2,
) -> np.ndarray:
    """[M] each negative's probe logit from a probe fitted on the training photos and the other folds' negatives."""
    if len(groups) != len(negatives):
        raise ValueError(f"{len(groups)} groups for {len(negatives)} negatives")
    folds = min(folds, len(set(groups)))
    if folds < 2:
        raise ValueError("the landmark probe needs negatives of at least two groups")
    fold = fold_of(groups, folds, seed)
    logits = np.zeros(len(negatives))
    for f in range(folds):
        held = fold == f
        logits[held] = probe_logit(fit_probe(positives, negatives[~held], l2), negatives[held])
    return logits


def fit_gate(landmark_logits: np.ndarray, negative_logits: np.ndarray) -> list[float]:
    """[a, b] of the gate sigmoid(a * logit + b): landmark photos (val) against negatives, weighted equally."""
    x = np.concatenate([landmark_logits, negative_logits])
    x = np.stack([x, np.ones_like(x)], axis=1)
    y = np.concatenate([np.ones(len(landmark_logits)), np.zeros(len(negative_logits))])
    return fit_logistic(x, y, weight=balanced(y), l2=1e-4)  # a little L2: separable photos stay finite


@dataclass(frozen=True)
class LandmarkGate:
    """A fitted probe and gate, with the probe logits of the calibration photos then of the negatives (each
    negative's out of fold), on which the decision's threshold is then chosen."""

    probe: list[float]
    gate: list[float]
    logits: np.ndarray
    n_positives: int


def fit_landmark_gate(
    index: EmbeddingIndex, embeddings: np.ndarray, negative_embeddings: np.ndarray, groups: Sequence[str], seed: int
) -> LandmarkGate:
    """The probe on the index's training photos against the negatives, and its gate on the calibration photos
    (`embeddings`) against the negatives' out-of-fold logits."""
    positives = index.embeddings.astype(np.float32)
    probe = fit_probe(positives, negative_embeddings)
    known = probe_logit(probe, embeddings)
    held_out = out_of_fold_logits(positives, negative_embeddings, groups, seed=seed)
    return LandmarkGate(probe, fit_gate(known, held_out), np.concatenate([known, held_out]), len(positives))
