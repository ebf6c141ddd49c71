"""Open-set figures on small hand-made arrays whose answers are worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from landmarks.engine.open_set import (
    OperatingPoint,
    auroc,
    gap,
    operating_point,
    plot_precision_recall,
    precision_recall_curve,
    threshold_for_precision,
)

# Six photos: four landmark photos (two right, one wrong at 0.8, one right at 0.6) and two negatives.
CONF = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5])
RIGHT = np.array([True, True, False, False, True, False])
NEG = np.array([False, False, False, True, False, True])


def test_gap_matches_the_challenge_example() -> None:
    # The Kaggle 2020 documentation's example: 10 queries, 2 without a landmark (id_002, id_009),
    # 3 without a prediction (id_004, id_006, id_009; here at -inf, ranked last and never right).
    # Ranked: 0.99 right, 0.70 right, 0.60 wrong, 0.40 right, 0.30 right, 0.15 right, 0.10 negative.
    # GAP = (1 + 1 + 3/4 + 4/5 + 5/6) / 8 = 263/480.
    inf = -math.inf
    confidence = [0.15, 0.10, 0.30, inf, 0.40, inf, 0.60, 0.70, inf, 0.99]
    correct = [True, False, True, False, True, False, False, True, False, True]
    negative = [False, True, False, False, False, False, False, False, True, False]
    assert gap(confidence, correct, negative) == pytest.approx(263 / 480)
    assert gap(confidence, correct, negative) == pytest.approx(0.5479166666666)


def test_gap_punishes_a_confident_negative_and_ignores_negatives_ranked_last() -> None:
    assert gap([0.9, 0.8], [False, True], [True, False]) == pytest.approx(0.5)  # P(2) = 1/2, M = 1
    assert gap([0.1, 0.8], [False, True], [True, False]) == pytest.approx(1.0)
    assert gap([0.9, 0.8, 0.7], [True, True, True], [False] * 3) == pytest.approx(1.0)  # no negatives
    assert gap([0.9, 0.8, 0.7], [False, True, True], [False] * 3) == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert gap([0.9, 0.5], [False, False], [True, True]) == 0.0  # all negatives: nothing to recognise


def test_operating_point_counts_the_answered_photos() -> None:
    point = operating_point(CONF, RIGHT, NEG, 0.8)  # answers 0.9, 0.8, 0.8
    assert point == OperatingPoint(0.8, 2 / 3, 2 / 4, 1 / 4, 0.0, 3)
    point = operating_point(CONF, RIGHT, NEG, 0.7)
    assert (point.precision, point.negatives_answered, point.answered) == (0.5, 0.5, 4)
    nothing = operating_point(CONF, RIGHT, NEG, 1.0)
    assert (nothing.precision, nothing.right_share, nothing.wrong_share, nothing.answered) == (1.0, 0, 0, 0)
    everything = operating_point(torch.tensor(CONF), torch.tensor(RIGHT), torch.tensor(NEG), 0.0)
    assert (everything.precision, everything.right_share, everything.negatives_answered) == (0.5, 0.75, 1.0)


def test_operating_point_without_negatives_or_without_landmark_photos() -> None:
    assert operating_point([0.9, 0.4], [True, False], [False, False], 0.5).negatives_answered == 0.0
    only_negatives = operating_point([0.9, 0.4], [False, False], [True, True], 0.5)
    assert (only_negatives.precision, only_negatives.right_share, only_negatives.negatives_answered) == (0, 0, 0.5)


def test_the_threshold_keeps_the_most_right_answers_at_the_target() -> None:
    # Thresholds 0.9 0.8 0.7 0.6 0.5 answer 1 3 4 5 6 photos, 1 2 2 3 3 right: precision 1 2/3 1/2 3/5 1/2.
    point = threshold_for_precision(CONF, RIGHT, NEG, 0.6)
    assert (point.threshold, point.precision, point.right_share, point.reached) == (0.6, 0.6, 0.75, True)
    assert point.target == 0.6 and point.negatives_answered == 0.5
    assert threshold_for_precision(CONF, RIGHT, NEG, 0.9).threshold == 0.9


def test_tied_confidences_are_answered_together() -> None:
    # The right and the wrong photo at 0.8 cannot be split: 0.8 gives 2/3, short of 0.7.
    point = threshold_for_precision(CONF, RIGHT, NEG, 0.7)
    assert (point.threshold, point.answered, point.precision) == (0.9, 1, 1.0)
    assert threshold_for_precision(CONF, RIGHT, NEG, 0.66).threshold == 0.8
    thresholds, precision, recall = precision_recall_curve(CONF, RIGHT, NEG)
    np.testing.assert_allclose(thresholds, [0.9, 0.8, 0.7, 0.6, 0.5])
    np.testing.assert_allclose(precision, [1, 2 / 3, 1 / 2, 3 / 5, 1 / 2])
    np.testing.assert_allclose(recall, [1 / 4, 2 / 4, 2 / 4, 3 / 4, 3 / 4])


def test_among_equal_right_answers_the_fewest_negatives_are_answered() -> None:
    # 0.9 right, then two negatives: every threshold is >= 1/3 precise, all have one right answer.
    point = threshold_for_precision([0.9, 0.8, 0.7], [True, False, False], [False, True, True], 0.3)
    assert (point.threshold, point.answered, point.negatives_answered) == (0.9, 1, 0.0)


def test_when_nothing_reaches_the_target_the_most_precise_is_flagged() -> None:
    point = threshold_for_precision([0.9, 0.5, 0.4], [False, True, False], [True, False, False], 0.99)
    assert (point.threshold, point.precision, point.reached) == (0.5, 0.5, False)
    allnegative = threshold_for_precision([0.9, 0.5], [False, False], [True, True], 0.99)
    assert (allnegative.threshold, allnegative.precision, allnegative.reached) == (0.9, 0.0, False)
    at_least_two = threshold_for_precision(CONF, RIGHT, NEG, 0.9, min_answers=2)
    assert (at_least_two.threshold, at_least_two.reached) == (0.8, False)
    too_few = threshold_for_precision(CONF, RIGHT, NEG, 0.5, min_answers=7)
    assert (too_few.threshold, too_few.answered, too_few.reached) == (math.inf, 0, False)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        gap([0.5, 0.4], [True], [False, False])
    with pytest.raises(ValueError, match="cannot have a correct answer"):
        gap([0.5], [True], [True])
    with pytest.raises(ValueError, match="NaN"):
        operating_point([math.nan], [False], [False], 0.5)
    with pytest.raises(ValueError, match="no predictions"):
        threshold_for_precision([], [], [], 0.9)


def test_auroc_counts_pairs_and_ties_half() -> None:
    assert auroc([3, 2, 1], [0, 1]) == pytest.approx(5.5 / 6)
    assert auroc([2, 3], [0, 1]) == 1.0 and auroc([0, 1], [2, 3]) == 0.0
    assert auroc([1, 1], [1, 1, 1]) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        auroc([1.0], [])


def test_auroc_agrees_with_torchmetrics_on_tied_scores() -> None:
    from torchmetrics.functional.classification import binary_auroc

    rng = np.random.default_rng(0)
    known, unknown = rng.integers(2, 12, 200) / 16, rng.integers(0, 10, 150) / 16  # exact, many ties
    expected = binary_auroc(torch.tensor(np.r_[known, unknown]), torch.tensor([1] * 200 + [0] * 150)).item()
    assert auroc(torch.tensor(known), unknown) == pytest.approx(expected, abs=1e-6)


def test_the_curve_is_drawn_with_the_threshold_and_the_target(tmp_path: Path) -> None:
    curve = precision_recall_curve(CONF, RIGHT, NEG)
    marked = threshold_for_precision(CONF, RIGHT, NEG, 0.6)
    target = tmp_path / "plots" / "precision_recall.png"
    target.parent.mkdir()
    target.write_bytes(b"an older picture")

    assert plot_precision_recall(curve, target, marked=marked, title="val + negatives") == target
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (600, 450)
    assert sorted(p.name for p in target.parent.iterdir()) == ["precision_recall.png"]  # no temporaries

    unmarked = plot_precision_recall(curve, tmp_path / "b.png", marked=None, title="t", target=0.99)
    assert unmarked.read_bytes() != target.read_bytes()
