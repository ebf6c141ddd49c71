"""Approximate nearest-neighbour search with FAISS, for indexes too large for one matrix product per query.

The rows are projected by PCA to `PCA_DIM` dimensions, split among k-means cells (an inverted-file
index, IVF) and stored there as 4-bit product-quantizer codes, which FAISS scans with SIMD table
lookups ("fast scan"). A query scans the `PROBE_SHARE` of cells nearest to it (L2 in the small space:
for unit rows it ranks like cosine, and unlike inner product it survives PCA's centring); its `RERANK`
best candidates are then scored exactly against the stored fp16 rows. So the similarities are the exact
search's, and the two differ only where the true neighbour was not among the candidates.

Why so large a share of cells: photo embeddings spread over hundreds of dimensions, where k-means cells
do not follow the landmarks, and a photo's nearest neighbour often sits in a cell well down the query's
list (README: the scale benchmark). Compact codes make scanning many cells cheap, and the exact re-ranking
undoes their coarse distances. Building (PCA, k-means, encoding every row) costs minutes at a large
gallery, so a built index is kept in a cache folder when one is given, keyed by the digest of the rows.
Chosen automatically from `FAISS_MIN_ROWS` rows on (`EmbeddingIndex.search`); `faiss` is imported only then.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from landmarks.retrieval.cache_files import digest, write_quietly

FAISS_MIN_ROWS = 50_000
"""Below this many rows exact search is fast enough (README: the scale benchmark) and needs no training."""

PCA_DIM = 256
PROBE_SHARE = 0.4
"""Share of the IVF cells a query scans (`nprobe` = this x cells)."""
RERANK = 64
"""Candidates from the approximate index that are scored exactly (per query)."""
ADD_CHUNK = 65_536
"""Rows converted to float32 and added at a time (bounds the memory of building)."""
TRAIN_ROWS_PER_CELL = 40
TRAIN_ROWS_MIN = 65_536
"""Rows the PCA and the codes are trained on, however few the cells (up to every row)."""
INDEX_VERSION = 3
"""Part of the cache key: a change to how the index is built invalidates what is cached."""


def cells_for(rows: int) -> int:
    """IVF cells: about 2 sqrt(N), with at least `TRAIN_ROWS_PER_CELL` training rows per cell. Fewer, larger
    cells than the usual 4 sqrt(N), since at a large share scanned much of a query's cost is per cell
    visited; fewer still lost recall at 10 k landmarks (README: the scale benchmark)."""
    return max(1, min(int(2 * math.sqrt(rows)), rows // TRAIN_ROWS_PER_CELL))


def spec_for(dim: int, cells: int) -> str:
    """The FAISS index factory string: PCA (when it reduces), IVF, 4-bit PQ codes of 2 dimensions each."""
    reduced = min(PCA_DIM, dim)
    pca = f"PCA{reduced}," if reduced < dim else ""
    return f"{pca}IVF{cells},PQ{max(1, reduced // 2)}x4fs"


def rows_digest(rows: np.ndarray, spec: str, seed: int) -> str:
    """What a cached index was built from: the build recipe and every byte of the rows."""
    import faiss

    return digest(f"{INDEX_VERSION}:{faiss.__version__}:{spec}:{seed}:{rows.dtype}:{rows.shape}", rows)


class FaissBackend:
    """PCA + IVF + fast-scan PQ over unit fp16 rows, exact re-ranking; `search` answers like the exact search."""

    def __init__(
        self,
        embeddings: np.ndarray,
        *,
        nprobe: int | None = None,
        seed: int = 0,
        cells: int | None = None,
        cache: Path | None = None,
    ) -> None:
        """`cells`: IVF cells (default `cells_for(rows)`; at most one per 40 rows); `nprobe`: cells scanned
        (default `PROBE_SHARE` of them); `cache`: a folder where the built index is kept and looked up."""
        rows, dim = embeddings.shape
        self.rows_fp16 = embeddings  # the caller's rows (no copy): the exact re-ranking reads them
        self.cells = cells_for(rows) if cells is None else max(1, min(int(cells), rows // TRAIN_ROWS_PER_CELL))
        spec = spec_for(dim, self.cells)
        path = Path(cache) / f"{rows_digest(embeddings, spec, seed)}.faiss" if cache is not None else None
        self.from_cache = False
        index = _read(path, rows, dim) if path is not None else None
        if index is None:
            index = _build(embeddings, spec, self.cells, seed)
            if path is not None:
                _write(path, index)
        else:
            self.from_cache = True
        self._index: Any = index
        self._ivf: Any = _ivf_of(index)
        self.nprobe = math.ceil(PROBE_SHARE * self.cells) if nprobe is None else nprobe

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


def _ivf_of(index: Any) -> Any:
    import faiss

    return faiss.extract_index_ivf(index)


def _build(embeddings: np.ndarray, spec: str, cells: int, seed: int) -> Any:
    import faiss

    rows, dim = embeddings.shape
    index = faiss.index_factory(dim, spec, faiss.METRIC_L2)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = 10
    ivf.cp.seed = seed
    trained_on = min(rows, max(cells * TRAIN_ROWS_PER_CELL, TRAIN_ROWS_MIN))
    sample = np.random.default_rng(seed).choice(rows, size=trained_on, replace=False)
    index.train(np.ascontiguousarray(embeddings[np.sort(sample)], dtype=np.float32))
    for start in range(0, rows, ADD_CHUNK):
        index.add(np.ascontiguousarray(embeddings[start : start + ADD_CHUNK], dtype=np.float32))
    return index


def _read(path: Path, rows: int, dim: int) -> Any | None:
    """The cached index at `path`, or None when there is none, or it is unreadable or of other rows."""
    import faiss

    try:
        data = np.fromfile(path, dtype=np.uint8)
        index = faiss.deserialize_index(data)
    except (OSError, RuntimeError, ValueError):
        return None
    if index.ntotal != rows or index.d != dim:
        return None
    return index


def _write(path: Path, index: Any) -> None:
    """Keep a built index (a cache: a read-only or full folder costs the next load the build, nothing else)."""
    import faiss

    write_quietly(path, faiss.serialize_index(index).tobytes())
