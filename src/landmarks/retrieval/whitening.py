"""PCA whitening of embeddings, learned from the model's own training photos, for comparing prototypes.

Why: the backbone's pooled features spend most of their length on a few directions that every photo
shares (ImageNet's notion of "a photo of a building"), so two landmarks' prototypes look alike and a
prototype made of five photos is pulled towards the common directions. Centring removes the mean;
whitening also evens out the directions' variances, so the distinctive ones count. It is learned,
without labels, on the training photos only: a gallery landmark added later is compared in the same
space (the classic post-processing of retrieval descriptors, e.g. Jégou & Chum 2012). `shrink` adds a
share of the mean variance to every component before dividing by it, so weak, noisy directions are
not blown up. The dimension and shrinkage were chosen on proxy44 train/ photos (README, gallery row).

The top components come from a seeded randomised SVD (Halko et al. 2011) when the matrix is large;
it still costs seconds, so `cached` keeps each model's whitening in the cache folder, keyed by the
digest of the training photos' embeddings and the parameters. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landmarks.retrieval.cache_files import digest, read_arrays, write_arrays
from landmarks.retrieval.index import normalise

WHITEN_DIM = 768
"""Components kept (fewer when there are fewer training photos)."""
WHITEN_SHRINK = 0.3
"""Share of the kept components' mean variance added to each before whitening."""
MIN_ROWS = 200
"""Fewer training photos than this teach no reliable directions: the whitening is a centring alone."""
WHITENING_VERSION = 1
"""Bump when `fit` changes what it computes, so cached whitenings of the old recipe are not reused."""
OVERSAMPLE = 32
POWER_ITERATIONS = 3


@dataclass(frozen=True)
class Whitening:
    """x -> unit((unit(x) - mean) @ projection): the space prototypes are compared in."""

    mean: np.ndarray
    """[D] mean of the unit training embeddings."""
    projection: np.ndarray
    """[D, d] principal directions, each divided by its (shrunk) standard deviation."""

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """[N, D] raw embeddings -> [N, d] unit rows in the whitened space."""
        return normalise((normalise(embeddings) - self.mean) @ self.projection)

    @classmethod
    def fit(cls, rows: np.ndarray, dim: int = WHITEN_DIM, shrink: float = WHITEN_SHRINK, seed: int = 0) -> Whitening:
        """Learn from [N, D] embeddings (normalised here). From fewer than `MIN_ROWS` rows it is a centring
        alone; at most N / 2 components are kept, so each is seen in many photos."""
        x = normalise(rows).astype(np.float32)
        n, d_in = x.shape
        mean = x.mean(axis=0) if n else np.zeros(d_in, np.float32)
        k = min(dim, n // 2, d_in)
        if n < MIN_ROWS or k < 1:
            return cls(mean, np.eye(d_in, dtype=np.float32))
        centred = x - mean
        variances, directions = _top_components(centred, k, seed)
        scale = 1.0 / np.sqrt(variances + shrink * variances.mean() + 1e-12)
        return cls(mean, (directions * scale).astype(np.float32))


def cached(rows: np.ndarray, folder: Path, dim: int = WHITEN_DIM, shrink: float = WHITEN_SHRINK) -> Whitening:
    """`Whitening.fit(rows)`, read from `folder` when it was computed before (a cache: an unreadable or
    unwritable entry is recomputed, never an error)."""
    key = digest(f"{WHITENING_VERSION}:{dim}:{shrink}:{rows.dtype}:{rows.shape}", rows)
    path = Path(folder) / f"{key}.npz"
    found = read_arrays(path, "mean", "projection")
    if found is not None:
        mean, projection = found
        if mean.shape == (rows.shape[1],) and projection.ndim == 2 and projection.shape[0] == rows.shape[1]:
            return Whitening(mean, projection)
    whitening = Whitening.fit(rows, dim, shrink)
    write_arrays(path, mean=whitening.mean, projection=whitening.projection)
    return whitening


def _top_components(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest variances of the centred rows x [N, D] and their directions [D, k]."""
    n, d = x.shape
    if min(n, d) <= 2 * (k + OVERSAMPLE):  # small enough: exact
        _, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
        return (s[:k] ** 2 / n).astype(np.float32), vt[:k].T.astype(np.float32)
    rng = np.random.default_rng(seed)
    y = x @ rng.standard_normal((d, k + OVERSAMPLE), dtype=np.float32)
    for _ in range(POWER_ITERATIONS):  # sharpen the range towards the top components, re-orthogonalising
        y, _ = np.linalg.qr(x @ np.linalg.qr(x.T @ y)[0])
    q, _ = np.linalg.qr(y)
    _, s, vt = np.linalg.svd((q.T @ x).astype(np.float64), full_matrices=False)
    return (s[:k] ** 2 / n).astype(np.float32), vt[:k].T.astype(np.float32)
