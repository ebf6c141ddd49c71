"""Approximate nearest-neighbour search with FAISS, for indexes too large for one matrix product per query.

The rows are projected by PCA to `PCA_DIM` dimensions and split among k-means cells (an inverted-file
index, IVF); a query scans only the `nprobe` nearest cells in the small space (L2 there: for unit rows
it ranks like cosine, and unlike inner product it survives PCA's centring), and its `RERANK` best
candidates are then scored exactly against the stored fp16 rows. So the similarities are the exact
search's, and the two differ only where the true neighbour was not among the candidates. Chosen
automatically from `FAISS_MIN_ROWS` rows on (`EmbeddingIndex.search`); `faiss` is imported only then.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FAISS_MIN_ROWS = 50_000
"""Below this many rows exact search is fast enough (README: the scale benchmark) and needs no training."""

PCA_DIM = 256
RERANK = 256
"""Candidates from the approximate index that are scored exactly (per query)."""
ADD_CHUNK = 65_536
"""Rows converted to float32 and added at a time (bounds the memory of building)."""


def cells_for(rows: int) -> int:
    """IVF cells: about 4 sqrt(N), with at least 40 training rows per cell."""
    return max(1, min(int(4 * math.sqrt(rows)), rows // 40))


class FaissBackend:
    """PCA + IVF over unit fp16 rows, exact re-ranking; `search` answers like the exact search."""

    def __init__(self, embeddings: np.ndarray, *, nprobe: int = 128, seed: int = 0, cells: int | None = None) -> None:
        """`cells`: IVF cells (default `cells_for(rows)`; at most one per 40 rows)."""
        import faiss

        rows, dim = embeddings.shape
        self.rows_fp16 = embeddings  # the caller's rows (no copy): the exact re-ranking reads them
        self.cells = cells_for(rows) if cells is None else max(1, min(int(cells), rows // 40))
        reduced = min(PCA_DIM, dim)
        spec = f"PCA{reduced},IVF{self.cells},Flat" if reduced < dim else f"IVF{self.cells},Flat"
        index = faiss.index_factory(dim, spec, faiss.METRIC_L2)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = 10
        ivf.cp.seed = seed
        sample = np.random.default_rng(seed).choice(rows, size=min(rows, self.cells * 40), replace=False)
        index.train(np.ascontiguousarray(embeddings[np.sort(sample)], dtype=np.float32))
        for start in range(0, rows, ADD_CHUNK):
            index.add(np.ascontiguousarray(embeddings[start : start + ADD_CHUNK], dtype=np.float32))
        self._ivf: Any = ivf
        self._index: Any = index
        self.nprobe = nprobe

    @property
    def nprobe(self) -> int:
        return int(self._ivf.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._ivf.nprobe = max(1, min(int(value), self.cells))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """[Q, k] cosine similarities (descending, exact for the rows found) and row indices; -inf / -1
        where fewer than k rows were found."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        _, candidates = self._index.search(q, max(k, RERANK))
        safe = np.maximum(candidates, 0)
        sims = np.einsum("qd,qcd->qc", q, self.rows_fp16[safe].astype(np.float32))
        sims = np.where(candidates < 0, -np.inf, sims)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sims, order, axis=1).astype(np.float32), np.take_along_axis(candidates, order, axis=1)
