"""One answer from the model's classes and a gallery's landmarks together: one score, one "unknown".

Why this shape: a gallery landmark has no classifier output, so its evidence is its photos' embeddings.
The probability vector grows by the gallery's landmarks (classifier mass 0). Class prototypes
(SimpleShot: each class's mean embedding, in a space whitened on the training photos, so the
directions every photo shares do not drown the distinctive ones) are compared for the model's classes
and the gallery's alike. The gallery's share of the answer is a logistic gate over how close the best
gallery prototype is, how much closer than the best trained one, and how unsure the model's own answer
is; a softmax over the gallery prototypes divides that share among the gallery's landmarks. The rest
is the checkpoint's own answer (`decide`: classifier and kNN vote), so a photo of a trained class the
model is sure of keeps its answer. The confidence and the threshold are the checkpoint's, unchanged; where
the rule reads the probability before the kNN vote, the gallery's share stands beside the classifier's.
The landmark gate does not apply to a gallery answer: its probe learnt "landmark photo" from the trained
classes' photos alone, and a user's landmark (a crater, a beach) may look like none of them. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landmarks.retrieval.cache_files import digest, read_arrays, write_arrays
from landmarks.retrieval.decision import Decided, DecisionRule, decide
from landmarks.retrieval.index import EmbeddingIndex, Neighbours, normalise
from landmarks.retrieval.whitening import Whitening

GALLERY_GATE = (10.043, 7.117, -0.579, -2.707)
"""The gallery's share of the answer: sigmoid(w . [s_gallery - s_trained, s_gallery, logit(p_model), 1]), where s
are the best prototype similarities of either side and p_model the checkpoint's own top probability (a photo
close to a gallery landmark, and closer to it than to any trained class, goes to the gallery; one the model
is sure of less so). Fitted, and its offset chosen, on proxy44 train/ photos by
`benchmarks/gallery_fewshot.py` (README)."""
GALLERY_TEMPERATURE = 0.05
"""Softmax temperature over prototype cosine similarities, dividing the share among gallery landmarks."""


PROTOTYPES_VERSION = 1
"""Bump when `Prototypes.of` changes what it computes, so cached prototypes of the old recipe are not reused."""
PROTOTYPES_COMPARED = 16
"""The nearest class prototypes the softmax runs over (the rest weigh nothing at this temperature)."""
BLOCK_ROWS = 65_536


@dataclass(frozen=True)
class Prototypes:
    """One unit prototype per class in a whitened space learned from the model's training photos
    (`retrieval/whitening.py`), as an index (so a gallery of many landmarks is searched approximately,
    like the photos)."""

    whitening: Whitening
    index: EmbeddingIndex

    @classmethod
    def of(
        cls, index: EmbeddingIndex, num_classes: int, trained: int, whitening: Whitening | None = None
    ) -> Prototypes:
        """Class means of the whitened rows of `index`, a block of rows at a time; the whitening is learned
        from the rows of the trained classes unless given (it depends on the model alone, so a caller
        that rebuilds prototypes for a changed gallery passes the one it has)."""
        whitening = whitening or Whitening.fit(trained_rows(index, trained))
        sums = np.zeros((num_classes, whitening.dim), np.float64)
        for start in range(0, len(index), BLOCK_ROWS):
            labels = index.labels[start : start + BLOCK_ROWS]
            order = np.argsort(labels, kind="stable")
            block = whitening(index.embeddings[start : start + BLOCK_ROWS][order].astype(np.float32))
            first = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
            sums[labels[order][first]] += np.add.reduceat(block, first, axis=0)
        return cls(whitening, class_rows(normalise(sums)))

    @classmethod
    def cached(
        cls, index: EmbeddingIndex, num_classes: int, trained: int, whitening: Whitening, folder: Path
    ) -> Prototypes:
        """`of`, read from `folder` when the same rows were averaged in the same whitened space before: at a
        gallery of many landmarks every photo is projected, which costs far more than hashing the rows.
        A cache: an unreadable or unwritable entry is recomputed, never an error."""
        header = f"{PROTOTYPES_VERSION}:{num_classes}:{index.embeddings.shape}"
        key = digest(header, whitening.mean, whitening.projection, index.labels, index.embeddings)
        path = Path(folder) / f"{key}.npz"
        found = read_arrays(path, "prototypes")
        if found is not None and found[0].shape == (num_classes, whitening.dim) and found[0].dtype == np.float16:
            return cls(whitening, class_rows(found[0]))
        prototypes = cls.of(index, num_classes, trained, whitening)
        write_arrays(path, prototypes=prototypes.index.embeddings)
        return prototypes

    def nearest(self, embeddings: np.ndarray, m: int = PROTOTYPES_COMPARED) -> tuple[np.ndarray, np.ndarray]:
        """[N, m] cosine of each whitened photo embedding to its m nearest class prototypes, and those classes."""
        found = self.index.search(self.whitening(embeddings), m)
        return found.similarity, self.index.labels[np.maximum(found.index, 0)]


def class_rows(prototypes: np.ndarray) -> EmbeddingIndex:
    """An index of one unit row per class, labelled 0..C-1."""
    return EmbeddingIndex(prototypes, np.arange(len(prototypes)), [str(c) for c in range(len(prototypes))])


def trained_rows(index: EmbeddingIndex, trained: int) -> np.ndarray:
    """The embeddings of the model's own training photos (labels below `trained`), as float32."""
    return index.embeddings[index.labels < trained].astype(np.float32)


def gate_features(sims: np.ndarray, classes: np.ndarray, trained: int, own: np.ndarray) -> np.ndarray:
    """[N, 4]: best gallery prototype similarity minus best trained one, the best gallery one itself, logit of
    the model's top probability, 1 (a side absent from the nearest prototypes counts as similarity -1)."""
    gallery = classes >= trained
    s_g = np.where(gallery, sims, -1.0).max(axis=1)
    s_t = np.where(~gallery, sims, -1.0).max(axis=1)
    p = np.clip(own.max(axis=1), 1e-6, 1 - 1e-6)
    return np.stack([s_g - s_t, s_g, np.log(p) - np.log1p(-p), np.ones_like(p)], axis=1)


@dataclass(frozen=True)
class Evidence:
    """What the combined answer is made of, for a batch."""

    found: Neighbours
    knn: np.ndarray
    own: np.ndarray
    """[N, C] the checkpoint's own answer over its classes (`decide`'s), summing to 1."""
    sims: np.ndarray
    classes: np.ndarray
    """[N, m] the nearest class prototypes (similarity, class), model's and gallery's alike."""

    def features(self) -> np.ndarray:
        return gate_features(self.sims, self.classes, self.own.shape[1], self.own)


def evidence(
    rule: DecisionRule,
    probs: np.ndarray,
    embeddings: np.ndarray,
    index: EmbeddingIndex,
    gallery_classes: int,
    prototypes: Prototypes | None = None,
    shown: int = 3,
) -> Evidence:
    probs = np.asarray(probs, dtype=np.float64)
    trained = probs.shape[1]
    total = trained + gallery_classes
    prototypes = prototypes or Prototypes.of(index, total, trained)
    found = index.search(embeddings, max(rule.knn_k, rule.vote_k, shown))
    knn = found.similarity[:, min(rule.knn_k, found.similarity.shape[1]) - 1]
    own = rule.answer(probs, index.vote(found, total, rule.vote_temperature, k=rule.vote_k)[:, :trained])
    own = own / np.maximum(own.sum(axis=1, keepdims=True), 1e-12)
    sims, classes = prototypes.nearest(embeddings)
    return Evidence(found, knn, own, sims, classes)


def decide_with_gallery(
    rule: DecisionRule,
    probs: np.ndarray,
    embeddings: np.ndarray | None,
    index: EmbeddingIndex | None,
    gallery_classes: int,
    prototypes: Prototypes | None = None,
    *,
    gate: tuple[float, ...] = GALLERY_GATE,
    temperature: float = GALLERY_TEMPERATURE,
    shown: int = 3,
) -> Decided:
    """`decide` over [N, C] classifier probabilities and an index whose labels C..C+G-1 are the gallery's
    G landmarks: [N, C + G] answers. Without a gallery it is `decide` itself."""
    if gallery_classes == 0:
        return decide(rule, probs, embeddings, index, shown=shown)
    if index is None or embeddings is None:
        raise ValueError("a gallery needs the photos' embeddings and the combined index")
    ev = evidence(rule, probs, embeddings, index, gallery_classes, prototypes, shown)
    trained = ev.own.shape[1]
    z = np.where(np.isfinite(ev.sims), ev.sims, -np.inf) / temperature
    soft = np.exp(z - z.max(axis=1, keepdims=True))
    to_gallery = np.zeros((len(soft), gallery_classes), np.float64)
    rows, cols = np.nonzero(ev.classes >= trained)
    np.add.at(to_gallery, (rows, ev.classes[rows, cols] - trained), soft[rows, cols])
    to_gallery /= np.maximum(to_gallery.sum(axis=1, keepdims=True), 1e-300)
    share = 1.0 / (1.0 + np.exp(-(ev.features() @ np.asarray(gate, dtype=np.float64))))[:, None]
    answer = np.concatenate([(1.0 - share) * ev.own, share * to_gallery], axis=1)
    classifier = np.asarray(probs, dtype=np.float64)
    classifier = classifier / np.maximum(classifier.sum(axis=1, keepdims=True), 1e-12)
    before_vote = np.concatenate([(1.0 - share) * classifier, share * to_gallery], axis=1)
    evidence_prob = rule.evidence(before_vote, answer)
    landmark = rule.landmark_logit(np.asarray(embeddings))
    if landmark is not None:  # the probe never saw a gallery landmark's photos: its answers are not gated
        landmark = np.where(answer.argmax(axis=1) >= trained, np.inf, landmark)
    confidence = rule.confidence(evidence_prob, ev.knn, landmark)
    return Decided(answer, confidence, ev.knn, ev.found, evidence_prob, landmark)
