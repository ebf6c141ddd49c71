"""The calibration maths on data whose right answer is known, and the held-out calibration part of val."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from landmarks.engine.calibration import calibrated_probs, fit_decision, fit_temperature, split_val
from landmarks.engine.logistic import fit_logistic
from landmarks.engine.losses import MixUpCutMix
from landmarks.retrieval.decision import decision_features


def _overconfident(n: int, seed: int, sharpen: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z), but the model reports sharpen * z: too sure of itself by `sharpen`."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 8, generator=g) * 1.5
    targets = torch.multinomial(torch.softmax(z, dim=1), 1, generator=g).squeeze(1)
    return torch.log_softmax(sharpen * z, dim=1), targets


def test_temperature_lowers_the_nll_of_photos_it_was_not_fitted_on() -> None:
    fit_lp, fit_y = _overconfident(4000, seed=0)
    held_lp, held_y = _overconfident(4000, seed=1)
    t = fit_temperature(fit_lp, fit_y)
    assert 2.6 < t < 3.4  # undoes the known over-confidence (far inside the 0.05..20 clamp)
    before = F.nll_loss(held_lp, held_y)
    after = F.nll_loss(torch.log(calibrated_probs(held_lp, t)), held_y)
    assert after < before - 0.1


def test_temperature_leaves_calibrated_scores_alone() -> None:
    lp, y = _overconfident(4000, seed=2, sharpen=1.0)
    assert 0.9 < fit_temperature(lp, y) < 1.1


def _answers(n: int, n_neg: int, seed: int) -> tuple[np.ndarray, ...]:
    """Photos whose top probability and kNN similarity both (noisily) say whether the answer is right."""
    rng = np.random.default_rng(seed)
    correct = np.concatenate([rng.random(n) < 0.9, np.zeros(n_neg, bool)])
    negative = np.concatenate([np.zeros(n, bool), np.ones(n_neg, bool)])
    max_prob = np.clip(np.where(correct, 0.85, 0.45) + rng.normal(0, 0.15, n + n_neg), 0.01, 0.99)
    knn = np.where(negative, 0.45, np.where(correct, 0.75, 0.6)) + rng.normal(0, 0.07, n + n_neg)
    return max_prob, knn, correct, negative


def test_the_threshold_reaches_the_target_precision_with_the_most_right_answers() -> None:
    max_prob, knn, correct, negative = _answers(2000, 500, seed=0)
    for target in (0.95, 0.99):
        rule = fit_decision(max_prob, knn, correct, negative, score="fused", target_precision=target, knn_k=1)
        confidence = rule.confidence(max_prob, knn)
        answered = confidence >= rule.threshold
        assert correct[answered].mean() >= target
        # no lower threshold that still reaches the target would answer more photos right
        kept = (answered & correct).sum()
        for lower in np.unique(confidence[confidence < rule.threshold]):
            given = confidence >= lower
            if correct[given].mean() >= target:
                assert (given & correct).sum() <= kept
        assert rule.fitted["operating_point"]["right_share"] == pytest.approx(answered[correct].sum() / 2000)


def test_the_fused_score_beats_either_signal_alone() -> None:
    fit_set, held = _answers(2000, 500, seed=1), _answers(2000, 500, seed=2)
    right = {}
    for score in ("max_softmax", "knn", "fused"):
        rule = fit_decision(*fit_set, score=score, target_precision=0.98, knn_k=1)
        max_prob, knn, correct, _ = held
        answered = rule.confidence(max_prob, knn) >= rule.threshold
        assert correct[answered].mean() > 0.96  # holds on photos it was not fitted on
        right[score] = (answered & correct).sum()
    assert right["fused"] > max(right["max_softmax"], right["knn"])


def test_logistic_weights_point_the_right_way_and_need_both_outcomes() -> None:
    max_prob, knn, correct, _ = _answers(1000, 200, seed=3)
    w = fit_logistic(decision_features(max_prob, knn), correct.astype(float))
    assert w[0] > 0 and w[1] > 0
    with pytest.raises(ValueError):
        fit_logistic(decision_features(max_prob, knn), np.ones(len(knn)))


def test_val_is_split_per_class_seeded_and_disjoint() -> None:
    labels = [0] * 10 + [1] * 7 + [2] * 2 + [3]
    split = split_val(labels, fraction=0.5, seed=3)
    assert sorted(split.select + split.calibrate) == list(range(len(labels)))
    assert not set(split.select) & set(split.calibrate)
    held = [labels[i] for i in split.calibrate]
    assert (held.count(0), held.count(1), held.count(2), held.count(3)) == (5, 4, 1, 0)
    assert split == split_val(labels, fraction=0.5, seed=3)
    assert split.calibrate != split_val(labels, fraction=0.5, seed=4).calibrate
    same = split_val(labels, fraction=0.0, seed=3)
    assert same.select == same.calibrate == list(range(len(labels)))


def test_mixup_follows_the_generator_not_the_global_rng() -> None:
    x = torch.rand(8, 3, 16, 16)
    y = torch.arange(8) % 4
    mix = MixUpCutMix(alpha=0.4, num_classes=4)
    outs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # other code consumed the global RNG differently
        g = torch.Generator().manual_seed(7)
        outs.append([mix(x, y, g) for _ in range(4)])
    for (xa, ya), (xb, yb) in zip(*outs, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other = [mix(x, y, torch.Generator().manual_seed(8)) for _ in range(4)]
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(outs[0], other, strict=True))
    soft = outs[0][0][1]
    assert soft.shape == (8, 4) and torch.allclose(soft.sum(1), torch.ones(8))
