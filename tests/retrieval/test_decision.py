"""The decision rule: which probability it reads, the landmark gate, and rules stored by older versions."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.retrieval.combined import decide_with_gallery
from landmarks.retrieval.decision import DecisionRule, decide
from landmarks.retrieval.index import EmbeddingIndex


def _index() -> tuple[EmbeddingIndex, np.ndarray]:
    """Two classes of 4 photos each in two orthogonal directions of 8-d space."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8)
    rows = centres[[0] * 4 + [1] * 4] + rng.normal(0, 0.05, (8, 8))
    return EmbeddingIndex.build(rows, [0] * 4 + [1] * 4, [f"p{i}" for i in range(8)]), centres


def _rule(**kw: object) -> DecisionRule:
    return DecisionRule(score="fused", threshold=0.5, weights=[1.0, 5.0, -3.0], vote_weight=0.8, vote_k=4, **kw)  # type: ignore[arg-type]


def test_the_classifier_reading_takes_its_own_probability_of_the_answer_the_vote_imposed() -> None:
    index, centres = _index()
    probs = np.array([[0.7, 0.3]])  # the classifier says 0, the photo sits among class 1's photos
    answer, classifier = (
        decide(_rule(), probs, centres[[1]], index),
        decide(_rule(evidence_probability="classifier"), probs, centres[[1]], index),
    )
    assert answer.probs[0].argmax() == 1 == classifier.probs[0].argmax()  # the same answer is shown
    assert answer.evidence is not None and answer.evidence[0] == pytest.approx(answer.probs[0, 1])
    assert classifier.evidence is not None and classifier.evidence[0] == pytest.approx(0.3)
    assert classifier.confidence[0] < answer.confidence[0]  # an imposed answer stays unsure


def test_the_gate_multiplies_the_fused_score_by_how_landmark_like_the_photo_is() -> None:
    index, centres = _index()
    probe = [0.0] * 8 + [0.0]
    probe[2] = -10.0  # direction 2: what photos of no landmark look like
    gated = _rule(landmark_probe=probe, landmark_gate=[1.0, 2.0])
    plain = _rule()
    q = np.stack([centres[0], centres[0] + centres[2]])
    g, p = decide(gated, np.array([[0.9, 0.1]] * 2), q, index), decide(plain, np.array([[0.9, 0.1]] * 2), q, index)
    assert g.landmark_logit is not None and p.landmark_logit is None
    likeness = gated.landmark_likeness(g.landmark_logit)
    np.testing.assert_allclose(g.confidence, p.confidence * likeness)
    assert likeness[0] > 0.85 and likeness[1] < 0.01  # the second photo leans towards direction 2
    with pytest.raises(ValueError, match="embeddings"):
        gated.confidence(np.array([0.9]), np.array([0.8]))
    with pytest.raises(ValueError, match="8-d"):
        gated.landmark_logit(np.ones((1, 5)))


def test_the_gallery_path_reads_the_same_probability_and_leaves_gallery_answers_ungated() -> None:
    index, centres = _index()
    gallery = EmbeddingIndex.build(
        np.concatenate([index.embeddings.astype(np.float32), centres[[2, 2]]]),
        [*list(index.labels), 2, 2],
        [*index.ids, "g0", "g1"],
    )
    probe = [-5.0] * 8 + [0.0]  # a probe that takes every photo here for no landmark
    rule = _rule(evidence_probability="classifier", landmark_probe=probe, landmark_gate=[1.0, 0.0])
    found = decide_with_gallery(rule, np.array([[0.9, 0.1]] * 2), centres[[2, 0]], gallery, 1)
    assert found.probs[0].argmax() == 2 and found.probs[1].argmax() == 0  # a gallery answer, a trained one
    assert found.evidence is not None and 0.5 < found.evidence[0] <= found.probs[0, 2] + 1e-9
    ungated = _rule(evidence_probability="classifier").confidence(found.evidence, found.knn_similarity)
    # the probe never saw the gallery landmark's photos: its answer is judged by the fused score alone
    assert found.confidence[0] == pytest.approx(ungated[0])
    assert found.confidence[1] < 0.05 * ungated[1]


def test_rules_round_trip_and_older_ones_read_as_they_were_fitted() -> None:
    rule = _rule(evidence_probability="classifier", landmark_probe=[0.5] * 9, landmark_gate=[1.0, -0.5])
    assert DecisionRule.from_dict(rule.to_dict()) == rule
    older = {k: v for k, v in _rule().to_dict().items() if k not in ("evidence_probability", "landmark_probe")}
    old = DecisionRule.from_dict({k: v for k, v in older.items() if k != "landmark_gate"})
    assert old.evidence_probability == "answer" and old.landmark_gate is None
    with pytest.raises(ValueError, match="probe"):
        DecisionRule.from_dict({**rule.to_dict(), "landmark_probe": None})
    with pytest.raises(ValueError, match="evidence"):
        DecisionRule.from_dict({**rule.to_dict(), "evidence_probability": "vote"})
