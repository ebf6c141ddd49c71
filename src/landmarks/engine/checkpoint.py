"""One-file checkpoints: weights plus everything inference and reproduction need.

Saved as a plain dict of tensors and built-in types, so `torch.load(..., weights_only=True)` reads it
without unpickling code. A wrong, truncated or foreign file becomes a `CheckpointError` naming the file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from landmarks import __version__
from landmarks.atomic import atomic_open
from landmarks.catalog import Landmark
from landmarks.errors import CheckpointError
from landmarks.models.classifier import LandmarkClassifier, ModelConfig, create_model
from landmarks.retrieval.calibration import Calibration
from landmarks.retrieval.index import EmbeddingIndex

FORMAT = "landmarks-checkpoint"
FORMAT_VERSION = 2
"""2: the decision rule and the retrieval index of the training photos. Version 1 files still load (their
threshold becomes a max-softmax rule, and they have no index)."""


@dataclass
class Checkpoint:
    model: ModelConfig
    state_dict: dict[str, torch.Tensor]
    classes: list[str]
    landmarks: list[Landmark]
    calibration: Calibration = field(default_factory=Calibration)
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Resumable training state (optimizer, scheduler, epoch, RNG) in `last.pt`; empty in `best.pt`."""
    index: EmbeddingIndex | None = None
    """Embeddings of the training photos (ids relative to `extra["dataset"]["root"]`): kNN score, neighbours."""
    package_version: str = __version__

    def build_model(self) -> LandmarkClassifier:
        model = create_model(self.model, pretrained=False)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"the checkpoint's weights do not fit its model description: {exc}") from exc
        return model.eval()


def save_checkpoint(ckpt: Checkpoint, path: Path) -> Path:
    """Write atomically (`landmarks.atomic`): a crash never leaves half a file, two runs never share a temporary."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": ckpt.package_version,
        "model": ckpt.model.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in ckpt.state_dict.items()},
        "classes": list(ckpt.classes),
        "landmarks": [lm.to_dict() for lm in ckpt.landmarks],
        "calibration": ckpt.calibration.to_dict(),
        "index": ckpt.index.to_dict() if ckpt.index is not None else None,
        "train_config": ckpt.train_config,
        "metrics": ckpt.metrics,
        "extra": ckpt.extra,
    }
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)
    return path


def load_checkpoint(path: Path | str) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable landmarks checkpoint (truncated or not a torch file): {exc}"
        ) from exc
    except Exception as exc:  # weights_only refuses pickled code with an UnpicklingError
        if "Unsupported global" in str(exc) or "Weights only load failed" in str(exc):
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain data; refusing to load it"
            ) from exc
        raise CheckpointError(f"{path} is not a readable landmarks checkpoint: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a landmarks checkpoint (e.g. a bare state dict or another tool's file)")
    if raw.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer landmarks ({raw.get('package_version')}); upgrade to load it"
        )
    try:
        cal = raw.get("calibration", {})
        return Checkpoint(
            model=ModelConfig.from_dict(raw["model"]),
            state_dict=raw["state_dict"],
            classes=list(raw["classes"]),
            landmarks=[Landmark.from_dict(d) for d in raw["landmarks"]],
            calibration=Calibration.from_dict(cal),
            index=EmbeddingIndex.from_dict(raw["index"]) if raw.get("index") else None,
            train_config=dict(raw.get("train_config", {})),
            metrics=dict(raw.get("metrics", {})),
            extra=dict(raw.get("extra", {})),
            package_version=str(raw.get("package_version", "unknown")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is a damaged landmarks checkpoint (missing or bad field: {exc})") from exc
