"""A searchable index of L2-normalised photo embeddings with their labels: the training photos (and
later a user's gallery) as nearest neighbours.

Why: the classifier alone is confident on anything; how close a photo comes to the nearest photos
the model has actually seen is a second, independent signal (deep nearest-neighbour OOD scores), and
the neighbours themselves are evidence a user can look at. Exact search (one matrix product) is used
while the index is small; above `FAISS_MIN_ROWS` rows (a large gallery) an approximate FAISS index
takes over (`retrieval/faiss_index.py`). numpy only below that size, so inference without torch can use it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from landmarks.retrieval.faiss_index import FAISS_MIN_ROWS, FaissBackend

INDEX_FORMAT = 1

Backend = Literal["auto", "exact", "faiss"]

EXACT_COPY_BYTES = 512 * 1024 * 1024
"""Exact search keeps a float32 copy of the rows up to this size; a larger index is searched block by block."""
EXACT_BLOCK_ROWS = 32_768


def _top_k(sims: np.ndarray, k: int, offset: int) -> Neighbours:
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-top_sims, axis=1, kind="stable")
    return Neighbours(np.take_along_axis(top_sims, order, axis=1), np.take_along_axis(top, order, axis=1) + offset)


def _merge(a: Neighbours, b: Neighbours, k: int) -> Neighbours:
    sims, rows = np.concatenate([a.similarity, b.similarity], 1), np.concatenate([a.index, b.index], 1)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return Neighbours(np.take_along_axis(sims, order, axis=1), np.take_along_axis(rows, order, axis=1))


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Neighbours:
    """Search results for Q queries: [Q, k] similarities (cosine, descending) and row indices."""

    similarity: np.ndarray
    index: np.ndarray


@dataclass
class EmbeddingIndex:
    """Unit embeddings [N, D] (stored as float16), a label per row and an id per row (a photo's path).

    The constructor stores rows as given; `build` normalises them first.
    """

    embeddings: np.ndarray
    labels: np.ndarray
    ids: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings, dtype=np.float16)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.embeddings.ndim != 2 or not len(self.labels) == len(self.embeddings) == len(self.ids):
            raise ValueError(
                f"index rows disagree: {self.embeddings.shape} embeddings, {len(self.labels)} labels, "
                f"{len(self.ids)} ids"
            )
        self._search_matrix: np.ndarray | None = None
        self._approximate: FaissBackend | None = None
        self.backend: Backend = "auto"
        """How `search` searches: exact, FAISS, or auto (FAISS from `FAISS_MIN_ROWS` rows on)."""
        self.cache_folder: Path | None = None
        """Where a built FAISS index is kept for the next process with the same rows (None: built each time)."""
        self._building = threading.Lock()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def approximate(self) -> bool:
        """Whether `search` uses the FAISS index."""
        return self.backend == "faiss" or (self.backend == "auto" and len(self) >= FAISS_MIN_ROWS)

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        """The k most similar rows to each query (cosine; exact, or approximate for a large index)."""
        q = normalise(np.atleast_2d(queries))
        if q.shape[1] != self.dim:
            raise ValueError(f"query embeddings have {q.shape[1]} dimensions, the index {self.dim}")
        k = max(1, min(k, len(self)))
        if self.approximate:
            return Neighbours(*self.approximate_backend().search(q, k))
        return self.exact_search(q, k)

    def approximate_backend(self) -> FaissBackend:
        """The FAISS index over the rows, built (or read from `cache_folder`) at first use, once."""
        with self._building:
            if self._approximate is None:
                self._approximate = FaissBackend(self.embeddings, cache=self.cache_folder)
            return self._approximate

    def exact_search(self, q: np.ndarray, k: int) -> Neighbours:
        """Exact cosine search of unit queries [Q, D]: one matrix product, or one per block of rows for an
        index whose float32 copy would be large (`EXACT_COPY_BYTES`)."""
        k = max(1, min(k, len(self)))
        q = np.asarray(q, dtype=np.float32)  # a float64 query would upcast every row
        if self.embeddings.size * 4 <= EXACT_COPY_BYTES:
            if self._search_matrix is None:
                self._search_matrix = self.embeddings.astype(np.float32)
            return _top_k(q @ self._search_matrix.T, k, 0)
        best: Neighbours | None = None
        for start in range(0, len(self), EXACT_BLOCK_ROWS):
            block = self.embeddings[start : start + EXACT_BLOCK_ROWS].astype(np.float32)
            found = _top_k(q @ block.T, min(k, len(block)), start)
            best = found if best is None else _merge(best, found, k)
        assert best is not None
        return best

    def kth_similarity(self, queries: np.ndarray, k: int) -> np.ndarray:
        """[Q] similarity of each query to its k-th nearest row: the kNN "is this like anything we know" score."""
        return self.search(queries, k).similarity[:, -1]

    def vote(self, neighbours: Neighbours, num_classes: int, temperature: float, k: int | None = None) -> np.ndarray:
        """[Q, C] class distribution from the (first k) neighbours, each weighted by exp(similarity / temperature)."""
        similarity, index = neighbours.similarity[:, :k], neighbours.index[:, :k]
        weights = np.where(index >= 0, np.exp((similarity - 1.0) / temperature), 0.0)
        index = np.maximum(index, 0)  # rows an approximate search left empty weigh nothing
        votes = np.zeros((len(weights), num_classes), dtype=np.float64)
        np.add.at(votes, (np.arange(len(weights))[:, None], self.labels[index]), weights)
        return votes / np.maximum(votes.sum(axis=1, keepdims=True), 1e-12)

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Bytes, lists and numbers only: loadable by `torch.load(weights_only=True)` and without torch."""
        return {
            "format": INDEX_FORMAT,
            "embeddings": self.embeddings.tobytes(),
            "shape": list(self.embeddings.shape),
            "labels": self.labels.tolist(),
            "ids": list(self.ids),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbeddingIndex:
        if int(d.get("format", 0)) > INDEX_FORMAT:
            raise ValueError(f"index format {d.get('format')} is newer than this version reads ({INDEX_FORMAT})")
        embeddings = np.frombuffer(d["embeddings"], dtype=np.float16).reshape(d["shape"])
        return cls(embeddings, np.asarray(d["labels"]), list(d["ids"]), dict(d.get("meta", {})))

    @classmethod
    def concat(cls, parts: Sequence[EmbeddingIndex], **meta: Any) -> EmbeddingIndex:
        """One index over the rows of several (the training photos, then a gallery's), labels as given."""
        parts = [p for p in parts if len(p)]
        if not parts:
            raise ValueError("nothing to index")
        return cls(
            np.concatenate([p.embeddings for p in parts]),
            np.concatenate([p.labels for p in parts]),
            [i for p in parts for i in p.ids],
            {**parts[0].meta, **meta},
        )

    @classmethod
    def build(cls, embeddings: np.ndarray, labels: Sequence[int], ids: Sequence[str], **meta: Any) -> EmbeddingIndex:
        return cls(normalise(embeddings), np.asarray(labels), list(ids), meta)
