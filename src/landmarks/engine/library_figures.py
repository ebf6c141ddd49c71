"""How a model would do on a photo library: landmark photos mixed with photos of no landmark of ours.

One prediction per photo, confidence = the decision's score; a photo of no landmark (a negative) is a
wrong answer wherever it is answered. The figures are the ones that matter before writing locations
into photos: GAP (the Google Landmark Recognition metric), and at the stored threshold how many
landmark photos get the right answer, how many get a wrong one, and what share of negatives would get
a location at all. `landmarks evaluate --negatives` and the benchmarks both use this.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from landmarks.engine.open_set import (
    auroc,
    gap,
    operating_point,
    plot_precision_recall,
    precision_recall_curve,
)
from landmarks.retrieval.decision import DecisionRule

PR_CURVE_FILE = "precision_recall.png"


def library_figures(
    confidence: np.ndarray,
    predicted: np.ndarray,
    targets: np.ndarray,
    negative_confidence: np.ndarray,
    rule: DecisionRule,
) -> dict[str, Any]:
    """GAP, AUROC and the operating point at the rule's threshold, for landmark photos (their top-1 class
    `predicted` against `targets`) plus negatives."""
    correct = np.concatenate([np.asarray(predicted) == np.asarray(targets), np.zeros(len(negative_confidence), bool)])
    negative = np.concatenate([np.zeros(len(confidence), bool), np.ones(len(negative_confidence), bool)])
    scores = np.concatenate([np.asarray(confidence, dtype=np.float64), np.asarray(negative_confidence, np.float64)])
    point = operating_point(scores, correct, negative, rule.threshold)
    figures: dict[str, Any] = {
        "landmark_photos": len(confidence),
        "negatives": len(negative_confidence),
        "top1": float(correct[~negative].mean()) if len(confidence) else 0.0,
        "gap": gap(scores, correct, negative),
        "decision": rule.score,
        "threshold": rule.threshold,
        "at_threshold": asdict(point),
    }
    if len(confidence) and len(negative_confidence):
        figures["auroc_landmark_vs_negative"] = auroc(scores[~negative], scores[negative])
    return figures


def write_precision_recall(
    confidence: np.ndarray,
    predicted: np.ndarray,
    targets: np.ndarray,
    negative_confidence: np.ndarray,
    rule: DecisionRule,
    path: Path,
    *,
    title: str,
) -> Path:
    """The precision/recall curve of written locations (PNG), the stored threshold marked."""
    correct = np.concatenate([np.asarray(predicted) == np.asarray(targets), np.zeros(len(negative_confidence), bool)])
    negative = np.concatenate([np.zeros(len(confidence), bool), np.ones(len(negative_confidence), bool)])
    scores = np.concatenate([np.asarray(confidence, dtype=np.float64), np.asarray(negative_confidence, np.float64)])
    curve = precision_recall_curve(scores, correct, negative)
    marked = operating_point(scores, correct, negative, rule.threshold)
    return plot_precision_recall(curve, path, marked=marked, title=title, target=rule.target_precision)
