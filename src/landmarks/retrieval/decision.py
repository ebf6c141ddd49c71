"""The "is this one of our landmarks?" decision: one confidence per photo, one threshold.

Why two signals: the classifier's calibrated top probability says which landmark fits best, but a
closed-set classifier is sure of itself on a menu or a dock; the similarity of the photo to its k-th
nearest training photo says whether it looks like anything the model has seen at all. A logistic
model over both ("fused") gives the probability that the answer is right; the threshold is then the
one at which a target share of the locations written are right (fitted at training time,
`engine/calibration.py`). numpy only: inference without torch applies it too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from landmarks.retrieval.index import EmbeddingIndex, Neighbours

DecisionScore = Literal["fused", "max_softmax", "knn"]
DECISION_SCORES: tuple[DecisionScore, ...] = ("fused", "max_softmax", "knn")


def decision_features(max_prob: np.ndarray, knn_similarity: np.ndarray) -> np.ndarray:
    """[N, 3] inputs of the fused score: logit of the top probability, kNN similarity, 1."""
    p = np.clip(np.asarray(max_prob, dtype=np.float64), 1e-6, 1 - 1e-6)
    s = np.asarray(knn_similarity, dtype=np.float64)
    return np.stack([np.log(p) - np.log1p(-p), s, np.ones_like(s)], axis=1)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not plain data")


@dataclass
class DecisionRule:
    """How a photo's confidence is computed and where "unknown" starts, as stored in a checkpoint."""

    score: DecisionScore = "max_softmax"
    threshold: float = 0.0
    weights: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])
    """Fused score: logistic weights for `decision_features`."""
    knn_k: int = 1
    """The kNN similarity is to the k-th nearest training photo."""
    vote_weight: float = 0.0
    """The answer's probabilities: (1 - w) x the classifier's + w x the nearest photos' vote (0: classifier)."""
    vote_k: int = 10
    vote_temperature: float = 0.05
    target_precision: float | None = None
    """Share of written locations that should be right, which chose `threshold` (None: another rule did)."""
    fitted: dict[str, Any] = field(default_factory=dict)
    """What it was fitted on and the figures there (photos, negatives, operating point)."""

    def confidence(self, max_prob: np.ndarray, knn_similarity: np.ndarray | None) -> np.ndarray:
        """[N] the score the threshold applies to (in [0, 1] for max_softmax and fused)."""
        max_prob = np.asarray(max_prob, dtype=np.float64)
        if self.score == "max_softmax":
            return max_prob
        if knn_similarity is None:
            raise ValueError(f"the {self.score!r} decision needs the kNN similarity (no retrieval index loaded)")
        if self.score == "knn":
            return np.asarray(knn_similarity, dtype=np.float64)
        z = decision_features(max_prob, knn_similarity) @ np.asarray(self.weights, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z))

    def answer(self, probs: np.ndarray, vote: np.ndarray | None) -> np.ndarray:
        """[N, C] the probabilities shown: the classifier's, mixed with the kNN vote when fitted so."""
        if not self.vote_weight or vote is None:
            return probs
        return (1.0 - self.vote_weight) * probs + self.vote_weight * vote

    @property
    def needs_index(self) -> bool:
        return self.score != "max_softmax" or self.vote_weight > 0

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only (no numpy scalars): checkpoints load with `weights_only=True`."""
        return json.loads(json.dumps(asdict(self), default=_plain))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionRule:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        rule = cls(**known)
        if rule.score not in DECISION_SCORES:
            raise ValueError(f"unknown decision score {rule.score!r} (expected one of {', '.join(DECISION_SCORES)})")
        return rule


@dataclass(frozen=True)
class Decided:
    """A batch through the decision: the probabilities shown, the confidence, and the evidence."""

    probs: np.ndarray
    """[N, C] classifier probabilities, mixed with the neighbours' vote when the rule says so."""
    confidence: np.ndarray
    """[N] the score the threshold applies to."""
    knn_similarity: np.ndarray | None
    neighbours: Neighbours | None

    def unknown(self, rule: DecisionRule) -> np.ndarray:
        return self.confidence < rule.threshold


def decide(
    rule: DecisionRule,
    probs: np.ndarray,
    embeddings: np.ndarray | None,
    index: EmbeddingIndex | None,
    *,
    shown: int = 3,
) -> Decided:
    """Apply `rule` to calibrated classifier probabilities [N, C] and the photos' embeddings [N, D]: the one
    place that turns model outputs into an answer (inference and evaluation both call it)."""
    probs = np.asarray(probs, dtype=np.float64)
    if index is None or embeddings is None:
        if rule.needs_index:
            raise ValueError(f"the {rule.score!r} decision needs the retrieval index, which this model lacks")
        return Decided(probs, rule.confidence(probs.max(axis=1), None), None, None)
    found = index.search(embeddings, max(rule.knn_k, rule.vote_k, shown))
    knn = found.similarity[:, min(rule.knn_k, found.similarity.shape[1]) - 1]
    answer = rule.answer(probs, index.vote(found, probs.shape[1], rule.vote_temperature, k=rule.vote_k))
    return Decided(answer, rule.confidence(answer.max(axis=1), knn), knn, found)
