"""A model's calibration as stored with it: the temperature and the "not one of our landmarks" decision.

Plain data and numpy only: a checkpoint (torch) and an ONNX export (no torch) both carry it, and the
predictor reads it the same way from either. Fitting it is training's business (`engine/calibration.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from landmarks.retrieval.decision import DecisionRule


@dataclass
class Calibration:
    """Temperature scaling + the threshold below which a photo is "not one of our landmarks"."""

    temperature: float = 1.0
    threshold: float = 0.0
    score: str = "max_softmax"
    """Which confidence score `threshold` applies to (the decision rule's)."""
    decision: DecisionRule | None = None
    """The unknown decision: score, weights, threshold and what it was fitted on."""
    details: dict[str, Any] = field(default_factory=dict)
    """How it was fitted, including every score's rule (`alternatives`)."""

    def rule(self) -> DecisionRule:
        """The decision rule in use (one made from `score` and `threshold` for version-1 checkpoints)."""
        if self.decision is not None:
            return self.decision
        threshold = self.details.get("thresholds", {}).get("max_softmax", self.threshold)
        return DecisionRule(score="max_softmax", threshold=float(threshold), fitted={"legacy": True})

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": float(self.temperature),
            "threshold": float(self.threshold),
            "score": self.score,
            "decision": self.decision.to_dict() if self.decision else None,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(
            temperature=float(d.get("temperature", 1.0)),
            threshold=float(d.get("threshold", 0.0)),
            score=str(d.get("score", "max_softmax")),
            decision=DecisionRule.from_dict(d["decision"]) if d.get("decision") else None,
            details=dict(d.get("details", {})),
        )


def softmax_probs(log_probs: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(log_probs / temperature) in float64: the numpy twin of `engine.calibration.calibrated_probs`."""
    z = np.asarray(log_probs, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
