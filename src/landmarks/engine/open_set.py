"""Open-set figures: how trustworthy the answers are when most photos show none of our landmarks.

Per photo: `confidence` (decision score of the top-1 answer), `correct` (the top-1 is the right class;
always False for a negative) and `negative` (the photo shows none of our landmarks). A photo is
answered (would get a location) when its confidence is >= the threshold; a negative answered counts as
a wrong answer. Shares whose denominator is empty (no landmark photos, no negatives) are 0.0, and the
precision of an empty answer set is 1.0 (nothing wrong was written), as in scikit-learn's curves.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landmarks.atomic import atomic_write_bytes


@dataclass(frozen=True)
class OperatingPoint:
    """The figures at one threshold (answered = confidence >= threshold)."""

    threshold: float
    precision: float
    """Right answers among the answered photos."""
    right_share: float
    """Right answers among the landmark photos (recall)."""
    wrong_share: float
    """Wrong answers among the landmark photos."""
    negatives_answered: float
    """Share of the negatives that got an answer."""
    answered: int
    reached: bool = True
    """False when `threshold_for_precision` found no threshold reaching its target."""
    target: float | None = None
    """The precision `threshold_for_precision` was asked for."""


def _inputs(confidence: Any, correct: Any, negative: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    conf, right, neg = (_numpy(value) for value in (confidence, correct, negative))
    conf = conf.astype(np.float64)
    right, neg = right.astype(bool), neg.astype(bool)
    if conf.ndim != 1 or conf.shape != right.shape or conf.shape != neg.shape:
        raise ValueError(f"confidence, correct and negative must be 1-D of one length: {conf.shape}, "
                         f"{right.shape}, {neg.shape}")  # fmt: skip
    if np.isnan(conf).any():
        raise ValueError("confidence holds NaN")
    if (right & neg).any():
        raise ValueError("a negative photo cannot have a correct answer")
    return conf, right, neg


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def gap(confidence: Any, correct: Any, negative: Any) -> float:
    """Global Average Precision (Google Landmark Recognition): (1/M) * sum_i P(i) * rel(i).

    Predictions sorted by confidence (descending; ties keep input order), P(i) the precision of the
    first i, rel(i) whether the i-th is right, M the number of landmark photos (0.0 when there is none).
    """
    conf, right, neg = _inputs(confidence, correct, negative)
    landmarks = int((~neg).sum())
    if landmarks == 0:
        return 0.0
    order = np.argsort(-conf, kind="stable")
    hits = right[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision_at * hits).sum() / landmarks)


def _sweep(conf: np.ndarray, right: np.ndarray, neg: np.ndarray) -> dict[str, np.ndarray]:
    """Counts at every threshold that can be told apart: each distinct confidence, highest first."""
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    last_of_value = np.r_[sorted_conf[1:] != sorted_conf[:-1], True]  # ties are answered together
    answered = np.arange(1, len(conf) + 1)[last_of_value]
    return {
        "threshold": sorted_conf[last_of_value],
        "answered": answered,
        "right": np.cumsum(right[order])[last_of_value],
        "negatives": np.cumsum(neg[order])[last_of_value],
    }


def _share(count: np.ndarray | int, total: int) -> np.ndarray:
    return np.asarray(count, dtype=np.float64) / total if total else np.zeros_like(count, dtype=np.float64)


def _point(conf, right, neg, threshold: float, **flags: Any) -> OperatingPoint:
    answered = conf >= threshold
    count = int(answered.sum())
    landmarks, negatives = int((~neg).sum()), int(neg.sum())
    hits = int((answered & right).sum())
    return OperatingPoint(
        threshold=float(threshold),
        precision=hits / count if count else 1.0,
        right_share=float(_share(hits, landmarks)),
        wrong_share=float(_share(int((answered & ~right & ~neg).sum()), landmarks)),
        negatives_answered=float(_share(int((answered & neg).sum()), negatives)),
        answered=count,
        **flags,
    )


def operating_point(confidence: Any, correct: Any, negative: Any, threshold: float) -> OperatingPoint:
    """The figures when every photo with confidence >= threshold is answered."""
    return _point(*_inputs(confidence, correct, negative), threshold)


def threshold_for_precision(
    confidence: Any, correct: Any, negative: Any, target: float, *, min_answers: int = 1
) -> OperatingPoint:
    """The threshold keeping the most right answers while the answered set is at least `target` precise.

    Among thresholds with as many right answers, the highest (it answers fewer negatives).

    Only thresholds answering >= `min_answers` photos count. When none reaches the target, the most
    precise one is returned with `reached=False`; when none answers enough photos, an infinite
    threshold (nothing answered). Tied confidences are answered together: no threshold splits them.
    """
    conf, right, neg = _inputs(confidence, correct, negative)
    if len(conf) == 0:
        raise ValueError("no predictions to choose a threshold on")
    sweep = _sweep(conf, right, neg)
    precision = sweep["right"] / sweep["answered"]
    allowed = sweep["answered"] >= min_answers
    if not allowed.any():
        return _point(conf, right, neg, float("inf"), reached=False, target=target)
    good = allowed & (precision >= target)
    if good.any():
        return _point(conf, right, neg, _most_right(sweep, good), reached=True, target=target)
    best = allowed & (precision == precision[allowed].max())
    return _point(conf, right, neg, _most_right(sweep, best), reached=False, target=target)


def _most_right(sweep: dict[str, np.ndarray], candidates: np.ndarray) -> float:
    """The threshold among `candidates` with the most right answers; among equals the highest
    (it answers fewer photos, so writes fewer wrong locations)."""
    most = sweep["right"][candidates].max()
    return float(sweep["threshold"][np.flatnonzero(candidates & (sweep["right"] == most))[0]])


def precision_recall_curve(confidence: Any, correct: Any, negative: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precision, recall) at every distinct confidence, highest threshold first.

    Recall is the share of landmark photos answered rightly (`right_share`).
    """
    conf, right, neg = _inputs(confidence, correct, negative)
    sweep = _sweep(conf, right, neg)
    return sweep["threshold"], sweep["right"] / sweep["answered"], _share(sweep["right"], int((~neg).sum()))


def plot_precision_recall(
    curve: tuple[np.ndarray, np.ndarray, np.ndarray],
    path: Path,
    *,
    marked: OperatingPoint | None,
    title: str,
    target: float | None = None,
) -> Path:
    """Draw the precision/recall curve into a PNG at `path` (written atomically).

    `marked` (the stored threshold) is drawn as a point; the target precision (`target`, else
    `marked.target`) as a dashed line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _, precision, recall = curve
    figure = Figure(figsize=(6, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(recall, precision, color="tab:blue", label="all thresholds")
    goal = target if target is not None else (marked.target if marked is not None else None)
    if goal is not None:
        axes.axhline(goal, color="tab:gray", linestyle="--", linewidth=1, label=f"target precision {goal:.3g}")
    if marked is not None:
        note = "" if marked.reached else ", target not reached"
        axes.plot([marked.right_share], [marked.precision], "o", color="tab:red",
                  label=f"threshold {marked.threshold:.3g}{note}")  # fmt: skip
    axes.set(xlabel="right answers among landmark photos (recall)", ylabel="precision of answers",
             title=title, xlim=(0, 1.02), ylim=(0, 1.02))  # fmt: skip
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


def auroc(score_known: Any, score_unknown: Any) -> float:
    """Area under the ROC curve of telling known (higher score) from unknown photos; ties count half.

    The probability that a random known photo scores above a random unknown one (Mann-Whitney U).
    """
    known = _numpy(score_known).astype(np.float64).ravel()
    unknown = np.sort(_numpy(score_unknown).astype(np.float64).ravel())
    if len(known) == 0 or len(unknown) == 0:
        raise ValueError("AUROC needs at least one known and one unknown score")
    if np.isnan(known).any() or np.isnan(unknown).any():
        raise ValueError("scores hold NaN")
    below = np.searchsorted(unknown, known, side="left")
    tied = np.searchsorted(unknown, known, side="right") - below
    return float((below + 0.5 * tied).sum() / (len(known) * len(unknown)))
