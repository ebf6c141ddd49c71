"""The FAISS backend answers like exact search, and is chosen automatically for a large index."""

from __future__ import annotations

from pathlib import Path

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


def test_a_built_index_is_kept_and_read_back_from_the_cache(tmp_path: Path) -> None:
    rows, labels = clustered(100, 5, 32)
    unit = EmbeddingIndex.build(rows, labels, [str(i) for i in range(len(rows))]).embeddings
    first = faiss_index.FaissBackend(unit, cache=tmp_path)
    assert not first.from_cache
    (entry,) = tmp_path.glob("*.faiss")
    again = faiss_index.FaissBackend(unit, cache=tmp_path)
    assert again.from_cache and again.nprobe == first.nprobe
    queries = unit[:20].astype(np.float32)
    for a, b in zip(first.search(queries, 3), again.search(queries, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    other = unit.copy()
    other[0] = other[1]  # other rows: another entry, never the first one's answers
    assert not faiss_index.FaissBackend(other, cache=tmp_path).from_cache
    assert len(list(tmp_path.glob("*.faiss"))) == 2
    entry.write_bytes(entry.read_bytes()[:100])  # truncated: rebuilt, and the entry rewritten
    rebuilt = faiss_index.FaissBackend(unit, cache=tmp_path)
    assert not rebuilt.from_cache and faiss_index.FaissBackend(unit, cache=tmp_path).from_cache


def test_an_unwritable_cache_costs_a_rebuild_not_an_error(tmp_path: Path) -> None:
    rows, labels = clustered(100, 5, 16)
    unit = EmbeddingIndex.build(rows, labels, [str(i) for i in range(len(rows))]).embeddings
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    backend = faiss_index.FaissBackend(unit, cache=blocked / "faiss")
    assert backend.search(unit[:2].astype(np.float32), 1)[1][:, 0].tolist() == [0, 1]


def test_the_index_builds_its_backend_once_into_its_cache_folder(tmp_path: Path) -> None:
    rows, labels = clustered(100, 5, 16)
    index = EmbeddingIndex.build(rows, labels, [str(i) for i in range(len(rows))])
    index.backend, index.cache_folder = "faiss", tmp_path
    index.search(rows[:2], 1)
    assert index.approximate_backend() is index.approximate_backend()
    assert len(list(tmp_path.glob("*.faiss"))) == 1
