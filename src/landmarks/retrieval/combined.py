"""One answer from the model's classes and a gallery's landmarks together: one score, one "unknown".

Why this shape: a gallery landmark has no classifier output, so its only evidence is the vote of the
nearest photos in the one index that holds the training photos and the gallery's. The probability
vector grows by the gallery's landmarks (classifier mass 0) and the decision rule's kNN vote carries
them. With a few photos per landmark the rule's fixed vote weight would let the classifier (sure of
itself on anything) outvote a gallery photo that matches closely, so the vote's weight rises with the
share of the vote that gallery photos carry: a photo whose nearest neighbours are training photos
gets exactly the checkpoint's answer, one whose nearest neighbours are a gallery landmark's photos is
answered by them. The confidence and the threshold are the checkpoint's, unchanged. numpy only.
"""

from __future__ import annotations

import numpy as np

from landmarks.retrieval.decision import Decided, DecisionRule, decide
from landmarks.retrieval.index import EmbeddingIndex

GALLERY_BOOST = 1.0
"""How fast the vote's weight rises with the gallery's share of it: weight = w + (1 - w) min(1, boost x share).
Chosen on proxy44 val photos by `benchmarks/gallery_fewshot.py` (README)."""


def decide_with_gallery(
    rule: DecisionRule,
    probs: np.ndarray,
    embeddings: np.ndarray | None,
    index: EmbeddingIndex | None,
    gallery_classes: int,
    *,
    boost: float = GALLERY_BOOST,
    shown: int = 3,
) -> Decided:
    """`decide` over [N, C] classifier probabilities and an index whose labels C..C+G-1 are the gallery's
    G landmarks: [N, C + G] answers. Without a gallery it is `decide` itself."""
    if gallery_classes == 0:
        return decide(rule, probs, embeddings, index, shown=shown)
    if index is None or embeddings is None:
        raise ValueError("a gallery needs the photos' embeddings and the combined index")
    probs = np.asarray(probs, dtype=np.float64)
    trained = probs.shape[1]
    probs = np.pad(probs, ((0, 0), (0, gallery_classes)))
    found = index.search(embeddings, max(rule.knn_k, rule.vote_k, shown))
    knn = found.similarity[:, min(rule.knn_k, found.similarity.shape[1]) - 1]
    vote = index.vote(found, trained + gallery_classes, rule.vote_temperature, k=rule.vote_k)
    share = vote[:, trained:].sum(axis=1, keepdims=True)
    weight = rule.vote_weight + (1.0 - rule.vote_weight) * np.minimum(1.0, boost * share)
    answer = (1.0 - weight) * probs + weight * vote
    return Decided(answer, rule.confidence(answer.max(axis=1), knn), knn, found)
