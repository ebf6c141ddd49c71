"""The whitened space prototypes are compared in: learned from training photos, deterministic, fast."""

from __future__ import annotations

import numpy as np

from landmarks.retrieval import whitening as wmod
from landmarks.retrieval.index import normalise
from landmarks.retrieval.whitening import Whitening


def decaying(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Rows whose variance falls off over the directions, like pooled CNN features."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (rng.normal(size=(n, d)) * (1.0 / np.arange(1, d + 1)) ** 0.7) @ basis.T + 2.0 * basis[:, 0]


def test_the_randomised_components_match_the_exact_ones() -> None:
    x = normalise(decaying(900, 400))
    centred = x - x.mean(axis=0)
    k = 100
    assert min(centred.shape) > 2 * (k + wmod.OVERSAMPLE)  # the randomised path
    variances, directions = wmod._top_components(centred, k, seed=0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(variances, s[:k] ** 2 / len(x), rtol=0.02)
    overlap = np.abs(np.sum(directions[:, :20] * vt[:20].T, axis=0))  # the leading directions themselves
    assert overlap.min() > 0.99


def test_training_rows_come_out_white_and_the_fit_is_deterministic() -> None:
    rows = decaying(600, 64)
    w = Whitening.fit(rows, dim=32, shrink=0.0)
    assert w.dim == 32
    z = (normalise(rows) - w.mean) @ w.projection
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(32), atol=0.02)
    again = Whitening.fit(rows, dim=32, shrink=0.0)
    np.testing.assert_array_equal(w.projection, again.projection)
    out = w(rows[:5])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_few_training_photos_give_a_centring_alone() -> None:
    rows = decaying(wmod.MIN_ROWS - 1, 16)
    w = Whitening.fit(rows)
    np.testing.assert_array_equal(w.projection, np.eye(16, dtype=np.float32))
    np.testing.assert_allclose(w(rows[:3]), normalise(normalise(rows[:3]) - w.mean), atol=1e-6)


def test_whitening_lets_a_few_shots_beat_a_direction_every_photo_shares() -> None:
    """The case it is for: a strong direction that all photos vary along (lighting, "a building") hides
    the weak ones that tell landmarks apart (normalising a photo then scales them by its length along the
    strong one); new landmarks' prototypes from 3 photos are found far more often in the whitened space
    than after a centring alone."""
    rng = np.random.default_rng(1)
    d = 32

    def photos(centre: np.ndarray, n: int) -> np.ndarray:
        shared = rng.normal(0, 3.0, (n, 1)) * np.eye(d)[0]
        return shared + centre + rng.normal(0, 0.15, (n, d))

    trained_centres = [0.5 * normalise(rng.normal(size=d) * (np.arange(d) > 0)) for _ in range(20)]
    training = np.concatenate([photos(c, 20) for c in trained_centres])
    new_centres = [0.5 * normalise(rng.normal(size=d) * (np.arange(d) > 0)) for _ in range(5)]
    shots = [photos(c, 3) for c in new_centres]
    queries = [photos(c, 20) for c in new_centres]
    white = Whitening.fit(training, dim=d, shrink=0.3)
    centre_only = Whitening(white.mean, np.eye(d, dtype=np.float32))

    def accuracy(space: Whitening) -> float:
        protos = normalise(np.stack([space(s).mean(axis=0) for s in shots]))
        hits = [(space(q) @ protos.T).argmax(axis=1) == i for i, q in enumerate(queries)]
        return float(np.concatenate(hits).mean())

    assert accuracy(white) > 0.7
    assert accuracy(white) > accuracy(centre_only) + 0.4


def test_the_cache_serves_a_fitted_whitening_and_survives_damage(tmp_path, monkeypatch) -> None:
    rows = decaying(400, 32).astype(np.float16)
    first = wmod.cached(rows, tmp_path / "w")
    (entry,) = (tmp_path / "w").iterdir()

    def no_fit(*args, **kwargs):
        raise AssertionError("the cached whitening should have been read")

    with monkeypatch.context() as m:
        m.setattr(Whitening, "fit", no_fit)
        again = wmod.cached(rows, tmp_path / "w")
    np.testing.assert_array_equal(first.projection, again.projection)
    other = wmod.cached(rows[1:], tmp_path / "w")  # other training photos: another entry
    assert len(list((tmp_path / "w").iterdir())) == 2 and other.projection.shape == first.projection.shape
    entry.write_bytes(b"not an npz")  # a damaged entry is recomputed and rewritten
    np.testing.assert_array_equal(wmod.cached(rows, tmp_path / "w").projection, first.projection)
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    np.testing.assert_array_equal(wmod.cached(rows, blocked).projection, first.projection)  # unwritable: fitted
