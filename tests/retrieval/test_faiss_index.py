"""The FAISS backend answers like exact search, and is chosen automatically for a large index."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.retrieval import faiss_index
from landmarks.retrieval.index import EmbeddingIndex

pytest.importorskip("faiss")


def clustered(n_classes: int, per_class: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    return centres[labels] + rng.normal(0, 0.6, (len(labels), dim)), labels


def test_approximate_search_agrees_with_exact_search() -> None:
    rows, labels = clustered(400, 5, 32)
    index = EmbeddingIndex.build(rows, labels, [str(i) for i in range(len(rows))])
    queries, _ = clustered(400, 1, 32, seed=0)  # the same centres, new noise
    queries = queries + np.random.default_rng(1).normal(0, 0.6, queries.shape)
    exact = index.search(queries, 5)
    index.backend = "faiss"
    approx = index.search(queries, 5)
    assert (approx.index[:, 0] == exact.index[:, 0]).mean() >= 0.98
    same = approx.index[:, 0] == exact.index[:, 0]
    np.testing.assert_allclose(approx.similarity[same, 0], exact.similarity[same, 0], atol=2e-3)
    assert (np.diff(approx.similarity, axis=1) <= 1e-6).all()
    vote = index.vote(approx, 400, 0.05)
    assert np.allclose(vote.sum(axis=1), 1)


def test_auto_switches_at_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, labels = clustered(50, 5, 16)
    index = EmbeddingIndex.build(rows, labels, [str(i) for i in range(len(rows))])
    assert not index.approximate
    monkeypatch.setattr("landmarks.retrieval.index.FAISS_MIN_ROWS", 100)
    assert index.approximate
    assert index.search(rows[:3], 2).index.shape == (3, 2)
    assert faiss_index.cells_for(250) == 6 and faiss_index.cells_for(10) == 1


def test_blockwise_exact_search_equals_one_product(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, labels = clustered(30, 5, 16)
    index = EmbeddingIndex.build(rows, labels, [str(i) for i in range(len(rows))])
    whole = index.search(rows[:7], 4)
    monkeypatch.setattr("landmarks.retrieval.index.EXACT_COPY_BYTES", 0)
    monkeypatch.setattr("landmarks.retrieval.index.EXACT_BLOCK_ROWS", 16)
    blocks = index.search(rows[:7], 4)
    np.testing.assert_array_equal(blocks.index, whole.index)
    np.testing.assert_allclose(blocks.similarity, whole.similarity, atol=1e-6)
