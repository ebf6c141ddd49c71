"""Approximate nearest-neighbour search with FAISS, for indexes too large for one matrix product per query.

An inverted-file index (IVF: the rows split among k-means cells; a query scans only the `nprobe`
nearest cells) over fp16 rows, with inner product on unit vectors (= cosine). fp16 storage keeps the
similarities the exact search computes from the same stored rows, so the two differ only in which
rows an approximate search never looks at. Chosen automatically above `FAISS_MIN_ROWS`
(`EmbeddingIndex.search`); `faiss` is imported only then.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FAISS_MIN_ROWS = 50_000
"""Below this many rows exact search is fast enough (README: the scale benchmark) and needs no training."""

ADD_CHUNK = 65_536
"""Rows converted to float32 and added at a time (bounds the memory of building)."""


def cells_for(rows: int) -> int:
    """IVF cells: about 4 sqrt(N), with at least 64 training rows per cell."""
    return max(1, min(int(4 * math.sqrt(rows)), rows // 64))


class FaissBackend:
    """An IVF index over unit rows; `search` answers like the exact search (similarities, row indices)."""

    def __init__(self, embeddings: np.ndarray, *, nprobe: int = 16, seed: int = 0, threads: int | None = None) -> None:
        import faiss

        if threads:
            faiss.omp_set_num_threads(threads)
        rows, dim = embeddings.shape
        self.cells = cells_for(rows)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, self.cells, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.random.default_rng(seed).choice(rows, size=min(rows, self.cells * 64), replace=False)
        index.train(np.ascontiguousarray(embeddings[np.sort(sample)], dtype=np.float32))
        for start in range(0, rows, ADD_CHUNK):
            index.add(np.ascontiguousarray(embeddings[start : start + ADD_CHUNK], dtype=np.float32))
        index.nprobe = min(nprobe, self.cells)
        self._index: Any = index
        self.rows = rows

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._index.nprobe = max(1, min(int(value), self.cells))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """[Q, k] similarities (descending) and row indices; rows it could not fill are -inf / -1."""
        sims, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        sims = np.where(rows < 0, -np.inf, sims).astype(np.float32)
        return sims, rows.astype(np.int64)
