"""Model classes + gallery landmarks -> one answer, one confidence, the checkpoint's threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landmarks.retrieval.combined import decide_with_gallery
from landmarks.retrieval.decision import DecisionRule, decide
from landmarks.retrieval.index import EmbeddingIndex


def setting() -> tuple[DecisionRule, EmbeddingIndex, np.ndarray]:
    """Two trained classes (4 photos each) and one gallery landmark (2 photos), in 3 orthogonal directions."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16)
    rows = np.concatenate([centres[[0] * 4 + [1] * 4 + [2] * 2]]) + rng.normal(0, 0.05, (10, 16))
    index = EmbeddingIndex.build(rows, [0] * 4 + [1] * 4 + [2] * 2, [f"p{i}" for i in range(10)])
    rule = DecisionRule(score="fused", threshold=0.5, weights=[1.0, 5.0, -3.0], vote_weight=0.4, vote_k=5)
    return rule, index, centres


def test_without_a_gallery_it_is_decide_itself() -> None:
    rule, full, centres = setting()
    index = EmbeddingIndex(full.embeddings[:8], full.labels[:8], full.ids[:8])
    probs = np.array([[0.7, 0.3]])
    q = centres[[0]]
    a = decide_with_gallery(rule, probs, q, index, 0)
    b = decide(rule, probs, q, index)
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.confidence, b.confidence)


def test_gallery_neighbours_win_over_a_sure_classifier_and_trained_photos_keep_their_answer() -> None:
    rule, index, centres = setting()
    probs = np.array([[0.95, 0.05], [0.1, 0.9]])  # the classifier is sure of class 0 for both
    found = decide_with_gallery(rule, probs, centres[[2, 1]], index, 1)
    assert found.probs.shape == (2, 3)
    assert found.probs[0].argmax() == 2 and found.probs[0, 2] > 0.9  # the gallery landmark's photos decide
    assert found.probs[1].argmax() == 1  # near trained photos: the checkpoint's rule, untouched
    trained_only = EmbeddingIndex(index.embeddings[:8], index.labels[:8], index.ids[:8])
    plain = decide(rule, probs[[1]], centres[[1]], trained_only)
    np.testing.assert_allclose(found.probs[1, :2], plain.probs[0], atol=1e-3)
    assert (found.unknown(rule) == (found.confidence < rule.threshold)).all()


def test_a_closed_gate_sends_nothing_to_the_gallery() -> None:
    rule, index, centres = setting()
    probs = np.array([[0.95, 0.05]])
    found = decide_with_gallery(rule, probs, centres[[2]], index, 1, gate=(0.0, 0.0, 0.0, -50.0))
    assert found.probs[0].argmax() == 0 and found.probs[0, 2] < 1e-9


def test_prototypes_are_centred_class_means_whatever_the_block_size(monkeypatch) -> None:
    """With few training photos (as here) the whitening is a centring alone."""
    from landmarks.retrieval import combined
    from landmarks.retrieval.index import normalise

    _, index, _ = setting()
    emb = index.embeddings.astype(np.float32)
    centre = emb[index.labels < 2].mean(axis=0)
    expected = normalise(np.stack([normalise(emb[index.labels == c] - centre).sum(0) for c in range(3)]))
    for block in (3, 65_536):
        monkeypatch.setattr(combined, "BLOCK_ROWS", block)
        protos = combined.Prototypes.of(index, 3, trained=2)
        np.testing.assert_allclose(protos.whitening.mean, centre, atol=1e-5)
        assert protos.whitening.dim == 16
        np.testing.assert_allclose(protos.index.embeddings.astype(np.float32), expected, atol=2e-3)
    sims, classes = protos.nearest(emb[[8]], m=3)
    assert classes[0, 0] == 2 and sims[0, 0] > 0.9


def test_cached_prototypes_are_the_computed_ones_and_follow_the_rows(tmp_path: Path) -> None:
    from landmarks.retrieval.combined import Prototypes
    from landmarks.retrieval.whitening import Whitening

    _, index, _ = setting()
    whitening = Whitening.fit(index.embeddings[index.labels < 2].astype(np.float32))
    computed = Prototypes.of(index, 3, 2, whitening)
    first = Prototypes.cached(index, 3, 2, whitening, tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    again = Prototypes.cached(index, 3, 2, whitening, tmp_path)
    for p in (first, again):
        np.testing.assert_array_equal(p.index.embeddings, computed.index.embeddings)
    grown = EmbeddingIndex.concat([index, EmbeddingIndex(index.embeddings[:1], [3], ["new"])])
    assert Prototypes.cached(grown, 4, 2, whitening, tmp_path).index.embeddings.shape[0] == 4  # a new entry
    assert len(list(tmp_path.glob("*.npz"))) == 2
    entry.write_bytes(b"not an npz")  # damaged: recomputed, not an error
    np.testing.assert_array_equal(
        Prototypes.cached(index, 3, 2, whitening, tmp_path).index.embeddings, computed.index.embeddings
    )
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert Prototypes.cached(index, 3, 2, whitening, blocked / "p").index.embeddings.shape == (3, 16)
