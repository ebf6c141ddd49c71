"""The "is this one of our landmarks?" decision: one confidence per photo, one threshold.

Why two signals: the classifier's calibrated top probability says which landmark fits best, but a
closed-set classifier is sure of itself on a menu or a dock; the similarity of the photo to its k-th
nearest training photo says whether it looks like anything the model has seen at all. A logistic
model over both ("fused") gives the probability that the answer is right; the threshold is then the
one at which a target share of the locations written are right (fitted at training time,
`engine/calibration.py`).

Why a third, separate factor: where training had negatives (photos of no landmark), a linear probe on
the embedding learns "a landmark photo at all?" from them, and its gate multiplies the fused score. A
gate rather than a third input of the fused model: fused, the probe takes the weight of the kNN
similarity, which also tells unknown landmarks from ours; as a factor it only pulls down photos that
look like no landmark photo (README: the library-mix row). numpy only: inference without torch applies it too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from landmarks.retrieval.index import EmbeddingIndex, Neighbours, normalise

DecisionScore = Literal["fused", "max_softmax", "knn"]
DECISION_SCORES: tuple[DecisionScore, ...] = ("fused", "max_softmax", "knn")
EvidenceProbability = Literal["answer", "classifier"]


def decision_features(max_prob: np.ndarray, knn_similarity: np.ndarray) -> np.ndarray:
    """[N, 3] inputs of the fused score: logit of the top probability, kNN similarity, 1."""
    p = np.clip(np.asarray(max_prob, dtype=np.float64), 1e-6, 1 - 1e-6)
    s = np.asarray(knn_similarity, dtype=np.float64)
    return np.stack([np.log(p) - np.log1p(-p), s, np.ones_like(s)], axis=1)


def probe_logit(weights: Any, embeddings: np.ndarray) -> np.ndarray:
    """[N] a linear probe's logit of unit embeddings: `weights` is [D + 1], the bias last."""
    w = np.asarray(weights, dtype=np.float64)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[1] != len(w) - 1:
        raise ValueError(f"the landmark probe takes {len(w) - 1}-d embeddings, not shape {embeddings.shape}")
    return normalise(embeddings).astype(np.float64) @ w[:-1] + w[-1]


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
    evidence_probability: EvidenceProbability = "answer"
    """The top probability the score reads: that of the answer shown ("answer"), or the classifier's own
    probability of that answer before the kNN vote ("classifier": an answer the neighbours impose on an
    unsure classifier stays unsure). Models fitted before this choice existed read "answer"."""
    landmark_probe: list[float] | None = None
    """[D + 1] logistic weights (then the bias) of "a landmark photo, not a photo of no landmark" over the
    unit embedding, fitted on the training photos against the negatives (None: fitted without negatives)."""
    landmark_gate: list[float] | None = None
    """[a, b]: the fused score is multiplied by sigmoid(a * probe logit + b), fitted on val against the negatives."""
    target_precision: float | None = None
    """Share of written locations that should be right, which chose `threshold` (None: another rule did)."""
    fitted: dict[str, Any] = field(default_factory=dict)
    """What it was fitted on and the figures there (photos, negatives, operating point)."""

    def confidence(
        self, max_prob: np.ndarray, knn_similarity: np.ndarray | None, landmark_logit: np.ndarray | None = None
    ) -> np.ndarray:
        """[N] the score the threshold applies to (in [0, 1] for max_softmax and fused)."""
        max_prob = np.asarray(max_prob, dtype=np.float64)
        if self.score == "max_softmax":
            return max_prob
        if knn_similarity is None:
            raise ValueError(f"the {self.score!r} decision needs the kNN similarity (no retrieval index loaded)")
        if self.score == "knn":
            return np.asarray(knn_similarity, dtype=np.float64)
        z = decision_features(max_prob, knn_similarity) @ np.asarray(self.weights, dtype=np.float64)
        fused = 1.0 / (1.0 + np.exp(-z))
        if self.landmark_gate is None:
            return fused
        if landmark_logit is None:
            raise ValueError("this decision's landmark gate needs the photos' embeddings")
        return fused * self.landmark_likeness(landmark_logit)

    def landmark_logit(self, embeddings: np.ndarray) -> np.ndarray | None:
        """[N] the landmark probe's logit of the photos' embeddings (None when the rule has no probe)."""
        return None if self.landmark_probe is None else probe_logit(self.landmark_probe, embeddings)

    def landmark_likeness(self, landmark_logit: np.ndarray) -> np.ndarray:
        """[N] the gate: how much a photo looks like a landmark photo rather than one of no landmark."""
        logit = np.asarray(landmark_logit, dtype=np.float64)
        if self.landmark_gate is None:
            return np.ones_like(logit)
        a, b = self.landmark_gate
        return 1.0 / (1.0 + np.exp(-(a * logit + b)))

    def evidence(self, before_vote: np.ndarray, answer: np.ndarray) -> np.ndarray:
        """[N] the top probability the score reads, from the probabilities before and after the kNN vote."""
        if self.evidence_probability == "answer":
            return answer.max(axis=1)
        return before_vote[np.arange(len(answer)), answer.argmax(axis=1)]

    def answer(self, probs: np.ndarray, vote: np.ndarray | None) -> np.ndarray:
        """[N, C] the probabilities shown: the classifier's, mixed with the kNN vote when fitted so."""
        if not self.vote_weight or vote is None:
            return probs
        return (1.0 - self.vote_weight) * probs + self.vote_weight * vote

    @property
    def needs_index(self) -> bool:
        return self.score != "max_softmax" or self.vote_weight > 0 or self.landmark_gate is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only (no numpy scalars): checkpoints load with `weights_only=True`."""
        return json.loads(json.dumps(asdict(self), default=_plain))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionRule:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        rule = cls(**known)
        if rule.score not in DECISION_SCORES:
            raise ValueError(f"unknown decision score {rule.score!r} (expected one of {', '.join(DECISION_SCORES)})")
        if rule.evidence_probability not in ("answer", "classifier"):
            raise ValueError(f"unknown evidence probability {rule.evidence_probability!r}")
        if rule.landmark_gate is not None and (rule.landmark_probe is None or len(rule.landmark_gate) != 2):
            raise ValueError("a landmark gate needs its probe and two weights")
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
    evidence: np.ndarray | None = None
    """[N] the top probability the score read (`DecisionRule.evidence`)."""
    landmark_logit: np.ndarray | None = None
    """[N] the landmark probe's logit (None without a probe)."""

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
        evidence = rule.evidence(probs, probs)
        return Decided(probs, rule.confidence(evidence, None), None, None, evidence)
    found = index.search(embeddings, max(rule.knn_k, rule.vote_k, shown))
    knn = found.similarity[:, min(rule.knn_k, found.similarity.shape[1]) - 1]
    answer = rule.answer(probs, index.vote(found, probs.shape[1], rule.vote_temperature, k=rule.vote_k))
    evidence = rule.evidence(probs, answer)
    landmark = rule.landmark_logit(np.asarray(embeddings))
    return Decided(answer, rule.confidence(evidence, knn, landmark), knn, found, evidence, landmark)
