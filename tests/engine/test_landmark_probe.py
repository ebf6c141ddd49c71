"""The landmark probe and its gate on embeddings whose answer is known; negatives scored out of fold."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.engine.landmark_probe import fit_gate, fit_probe, fold_of, out_of_fold_logits
from landmarks.retrieval.decision import probe_logit


def _clusters(seed: int, n_pos: int = 200, n_neg: int = 60, d: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Landmark photos around one direction, photos of no landmark around another (noisy, overlapping a little)."""
    rng = np.random.default_rng(seed)
    a, b = np.zeros(d), np.zeros(d)
    a[0], b[1] = 1.0, 1.0
    pos = a + 0.25 * rng.standard_normal((n_pos, d))
    neg = b + 0.25 * rng.standard_normal((n_neg, d))
    return pos.astype(np.float32), neg.astype(np.float32)


def test_the_probe_tells_landmark_photos_from_others_it_never_saw() -> None:
    pos, neg = _clusters(0)
    w = fit_probe(pos, neg)
    assert len(w) == pos.shape[1] + 1
    new_pos, new_neg = _clusters(1)
    right = (probe_logit(w, new_pos) > 0).mean() + (probe_logit(w, new_neg) < 0).mean()
    assert right / 2 > 0.9
    # the scale of an embedding does not matter: the probe reads unit rows
    np.testing.assert_allclose(probe_logit(w, 7 * new_pos), probe_logit(w, new_pos), rtol=1e-5)


def test_a_negative_is_scored_by_a_probe_that_never_saw_its_group() -> None:
    pos, neg = _clusters(2)
    rng = np.random.default_rng(3)
    odd = (pos[:1] + 0.05 * rng.standard_normal((4, pos.shape[1]))).astype(np.float32)  # look like landmarks
    negatives = np.concatenate([neg, odd])
    groups = [f"g{i}" for i in range(len(neg))] + ["odd"] * 4
    in_sample = probe_logit(fit_probe(pos, negatives), odd)
    held_out = out_of_fold_logits(pos, negatives, groups, seed=0)[-4:]
    assert (held_out > in_sample).all()  # fitted on them, the probe had learnt them away
    assert held_out.mean() > 0  # unseen, they look like landmark photos, as a user's would


def test_folds_keep_groups_whole_and_are_seeded() -> None:
    groups = [f"g{i // 3}" for i in range(30)]
    fold = fold_of(groups, 5, seed=0)
    for g in set(groups):
        assert len({fold[i] for i, x in enumerate(groups) if x == g}) == 1
    assert set(fold.tolist()) == set(range(5))
    assert (fold_of(groups, 5, seed=0) == fold).all() and not (fold_of(groups, 5, seed=1) == fold).all()


def test_too_few_groups_or_mismatched_groups_are_errors() -> None:
    pos, neg = _clusters(4, n_neg=6)
    with pytest.raises(ValueError, match="two groups"):
        out_of_fold_logits(pos, neg, ["one"] * 6)
    with pytest.raises(ValueError, match="groups for"):
        out_of_fold_logits(pos, neg, ["a", "b"])


def test_the_gate_rises_with_the_probe_logit() -> None:
    rng = np.random.default_rng(5)
    a, b = fit_gate(rng.normal(3, 1.5, 300), rng.normal(-3, 1.5, 100))
    assert a > 0 and abs(b) < 1.5
