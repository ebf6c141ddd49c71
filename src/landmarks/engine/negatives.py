"""The negatives of a training run: photos of no landmark of ours, checked and split once per run.

Negatives never become a class. With outlier exposure on (`TrainConfig.outlier_weight`) one part of
them teaches the head (by photo group, seeded), the rest is held out for the decision; otherwise all of
them fit the decision. A negative that is also a photo of the dataset is an error, not a silent leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landmarks.data.negatives import NegativePhoto, collect_negatives, split_negatives
from landmarks.data.prepare import PreparedDataset
from landmarks.engine.config import TrainConfig


@dataclass
class NegativeSplit:
    train: list[NegativePhoto] = field(default_factory=list)
    """Outlier exposure (frozen mode with outlier_weight > 0)."""
    calibrate: list[NegativePhoto] = field(default_factory=list)
    """Held out: fit the decision's threshold."""
    source: str = ""

    @property
    def train_paths(self) -> list[Path]:
        return [p.path for p in self.train]

    @property
    def calibrate_paths(self) -> list[Path]:
        return [p.path for p in self.calibrate]

    def record(self) -> dict[str, Any]:
        """What the checkpoint says about them (also when there were none)."""
        return {
            "source": self.source or "none",
            "fitted_without_negatives": not self.calibrate,
            "n_outlier_exposure": len(self.train),
            "n_calibration": len(self.calibrate),
            "groups_calibration": len({p.group for p in self.calibrate}),
        }


def load_negatives(config: TrainConfig, prepared: PreparedDataset) -> NegativeSplit:
    """The run's negatives, refused when one is a photo of the dataset (same content digest)."""
    if not config.negatives:
        return NegativeSplit(source=config.negatives_source or "none")
    dataset = {digest: path for path, digest in prepared.digests.items()}
    photos = collect_negatives([Path(d) for d in config.negatives], exclude_digests=dataset)
    source = config.negatives_source or ", ".join(str(d) for d in config.negatives)
    frozen = config.model == "transfer" and config.mode == "frozen"
    if config.outlier_weight > 0 and frozen:
        parts = split_negatives(photos, {"train": 0.5, "calibrate": 0.5}, config.seed)
        return NegativeSplit(parts["train"], parts["calibrate"], source)
    return NegativeSplit([], sorted(photos, key=lambda p: str(p.path)), source)
