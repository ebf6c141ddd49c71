"""Run a model over a split of a prepared dataset; used by `landmarks train` (test) and `landmarks evaluate`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landmarks.data.prepare import PreparedDataset, Sample
from landmarks.engine.loaders import decoded_size, eval_loader
from landmarks.engine.loop import evaluate
from landmarks.engine.runtime import Runtime


@dataclass
class SplitPredictions:
    """What a model said about every photo of a split, in the split's order."""

    log_probs: torch.Tensor
    """[N, C] fp32."""
    targets: torch.Tensor
    """[N] class indices."""
    paths: list[Path]
    features: torch.Tensor | None
    """[N, F] backbone features (None for models without a separate backbone)."""


def predict_split(
    model: nn.Module,
    prepared: PreparedDataset,
    split: str,
    runtime: Runtime,
    *,
    tta: bool = False,
    batch_size: int = 64,
    progress: bool = True,
    samples: Sequence[Sample] | None = None,
) -> SplitPredictions:
    """The eval-transform predictions for `split` ('train', 'val' or 'test'), or for `samples` of it."""
    chosen: list[Sample] = list(getattr(prepared, split) if samples is None else samples)
    prepared.store(size=_store_size(model)).warm([s.path for s in chosen], progress=progress)
    loader = eval_loader(chosen, prepared, model.config, batch_size=batch_size)  # type: ignore[arg-type]
    log_probs, targets, features = evaluate(model, loader, runtime, tta=tta, progress=progress, desc=f"predict {split}")
    return SplitPredictions(log_probs, targets, [s.path for s in chosen], features)


def _store_size(model: nn.Module) -> int:
    cfg = model.config  # type: ignore[union-attr]
    return decoded_size(cfg.image_size, cfg.crop_pct)


def evaluate_checkpoint(
    checkpoint: Path,
    data: Path,
    out: Path,
    *,
    split: str = "test",
    tta: bool = False,
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: bool = True,
) -> tuple[Any, dict[str, Path]]:
    """Evaluate a saved model on a split of `data` and write the report (md, json, PNGs) into `out`."""
    from landmarks.data.prepare import prepare_dataset
    from landmarks.engine.checkpoint import load_checkpoint
    from landmarks.engine.report import compute_report, write_report
    from landmarks.errors import DatasetError

    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}: choose train, val or test")
    ckpt = load_checkpoint(checkpoint)
    prepared = prepare_dataset(Path(data), val_fraction=val_fraction, seed=seed, progress=progress)
    if list(prepared.classes) != list(ckpt.classes):
        extra = sorted(set(prepared.classes) - set(ckpt.classes))[:3]
        missing = sorted(set(ckpt.classes) - set(prepared.classes))[:3]
        raise DatasetError(
            f"{data} has other classes than {checkpoint} was trained on "
            f"({len(prepared.classes)} vs {len(ckpt.classes)}; new e.g. {extra}, absent e.g. {missing})"
        )
    if not getattr(prepared, split):
        raise DatasetError(f"{data}: the {split} split has no photos")
    runtime = Runtime.detect()
    model = runtime.prepare(ckpt.build_model())
    predicted = predict_split(model, prepared, split, runtime, tta=tta, progress=progress)
    targets, paths = predicted.targets, predicted.paths
    report = compute_report(
        predicted.log_probs,
        targets,
        ckpt.classes,
        temperature=ckpt.calibration.temperature,
        names=[lm.name for lm in ckpt.landmarks],
        paths=paths,
    )
    written = write_report(
        report,
        Path(out),
        title=f"{Path(checkpoint).name} on {Path(data).name}/{split}" + (" (flip TTA)" if tta else ""),
        extra={
            "checkpoint": str(checkpoint),
            "data": str(data),
            "split": split,
            "tta": tta,
            "model": ckpt.model.to_dict(),
            "train_metrics": ckpt.metrics,
        },
    )
    return report, written
