"""The calibration photos of an int8 export: the checkpoint's own val split, never test photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landmarks.engine.checkpoint import load_checkpoint
from landmarks.errors import ExportError


def spread(items: list[Path], limit: int | None) -> list[Path]:
    """At most `limit` items evenly spaced over `items` (the val split is sorted by class: all classes stay)."""
    if limit is None or len(items) <= limit:
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


def prepared_dataset(checkpoint: Path, data: Path | None = None, *, progress: bool = True) -> Any:
    """The dataset the checkpoint was trained on, split as then (same seed and fraction, its split manifest).

    `data` overrides the dataset folder recorded in the checkpoint (e.g. after moving it).
    """
    from landmarks.engine.train import TrainConfig, load_data

    ckpt = load_checkpoint(checkpoint)
    recorded = dict(ckpt.train_config)
    root = data or recorded.get("data") or ckpt.extra.get("dataset", {}).get("root")
    if not root:
        raise ExportError(f"{checkpoint} does not record its dataset; pass --data DIR for the calibration photos")
    if not Path(root).is_dir():
        raise ExportError(f"the calibration photos' folder {root} does not exist; pass --data DIR")
    config = TrainConfig(
        data=Path(root),
        out=Path(recorded.get("out") or Path(checkpoint).parent),
        model=recorded.get("model", ckpt.model.arch),
        backbone=recorded.get("backbone") or ckpt.model.backbone or "",
        image_size=recorded.get("image_size"),
        seed=int(recorded.get("seed", 0)),
        val_fraction=float(recorded.get("val_fraction", 0.2)),
        cache=Path(recorded["cache"]) if recorded.get("cache") else None,
        progress=progress,
    )
    return load_data(config)


def validation_photos(
    checkpoint: Path, data: Path | None = None, *, limit: int | None = None, progress: bool = True
) -> list[Path]:
    """At most `limit` photos of the checkpoint's val split, spread over all its classes."""
    prepared = prepared_dataset(checkpoint, data, progress=progress)
    if not prepared.val:
        raise ExportError(f"{prepared.root} has no val photos to calibrate on (val fraction {prepared.val_fraction})")
    return spread([s.path for s in prepared.val], limit)
