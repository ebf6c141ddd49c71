import numpy as np
import pytest
import torch

from landmarks.retrieval.index import EmbeddingIndex, normalise


def _index(n: int = 50, d: int = 8, classes: int = 5, seed: int = 0) -> EmbeddingIndex:
    rng = np.random.default_rng(seed)
    return EmbeddingIndex.build(rng.normal(size=(n, d)), rng.integers(0, classes, n), [f"p{i}" for i in range(n)])


def test_search_matches_brute_force_and_is_sorted() -> None:
    index = _index()
    queries = np.random.default_rng(1).normal(size=(7, 8))
    found = index.search(queries, k=4)
    full = normalise(queries) @ index.embeddings.astype(np.float32).T
    expected = np.argsort(-full, axis=1)[:, :4]
    assert np.array_equal(found.index, expected)
    assert np.all(np.diff(found.similarity, axis=1) <= 0)
    assert np.allclose(found.similarity[:, 0], full.max(axis=1), atol=1e-6)


def test_a_stored_photo_is_its_own_nearest_neighbour() -> None:
    index = _index()
    found = index.search(index.embeddings[10:12].astype(np.float32), k=1)
    assert found.index[:, 0].tolist() == [10, 11]
    assert np.allclose(found.similarity[:, 0], 1.0, atol=1e-3)


def test_kth_similarity_and_k_larger_than_the_index() -> None:
    index = _index(n=3)
    q = np.ones((1, 8))
    assert index.search(q, k=10).index.shape == (1, 3)
    assert index.kth_similarity(q, 3)[0] == pytest.approx(index.search(q, 3).similarity[0, -1])


def test_vote_weights_closer_neighbours_more() -> None:
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    index = EmbeddingIndex.build(emb, [0, 1, 1], ["a", "b", "c"])
    votes = index.vote(index.search(np.array([[1.0, 0.0]]), k=3), num_classes=2, temperature=0.05)
    assert votes.shape == (1, 2) and votes.sum() == pytest.approx(1.0)
    assert votes[0, 0] > votes[0, 1]  # the exact match outweighs two farther photos of class 1


def test_round_trip_through_torch_weights_only(tmp_path) -> None:
    index = _index()
    torch.save(index.to_dict(), tmp_path / "i.pt")
    back = EmbeddingIndex.from_dict(torch.load(tmp_path / "i.pt", weights_only=True))
    assert np.array_equal(back.embeddings, index.embeddings) and back.ids == index.ids
    assert np.array_equal(back.labels, index.labels)


def test_wrong_shapes_and_newer_formats_are_refused() -> None:
    with pytest.raises(ValueError, match="disagree"):
        EmbeddingIndex.build(np.ones((3, 2)), [0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="dimensions"):
        _index().search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="newer"):
        EmbeddingIndex.from_dict({**_index().to_dict(), "format": 99})
