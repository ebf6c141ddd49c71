"""The calibration maths on data whose right answer is known, and the held-out calibration part of val."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from landmarks.engine.calibration import calibrated_probs, choose_threshold, fit_temperature, split_val
from landmarks.engine.losses import MixUpCutMix


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


def test_threshold_keeps_the_stated_share_of_right_answers() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(3000, generator=g)
    correct = torch.rand(3000, generator=g) < scores  # confident answers are right more often
    for keep in (0.8, 0.95):
        threshold = choose_threshold(scores[:1500], correct[:1500], keep=keep)
        fitted = float((scores[:1500][correct[:1500]] >= threshold).float().mean())
        held_out = float((scores[1500:][correct[1500:]] >= threshold).float().mean())
        assert abs(fitted - keep) < 0.005
        assert abs(held_out - keep) < 0.03
        assert (scores[~correct] < threshold).any()  # it does turn some wrong answers into "unknown"


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
