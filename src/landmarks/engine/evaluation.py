"""Run a model over a split of a prepared dataset; used by training's final step and `landmarks evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from landmarks.engine.runtime import Runtime
from landmarks.engine.train import decoded_size, evaluate


def predict_split(
    model: nn.Module,
    prepared: Any,
    split: str,
    runtime: Runtime,
    *,
    tta: bool = False,
    batch_size: int = 64,
    progress: bool = True,
    with_features: bool = False,
) -> Any:
    """(log-probs [N, C], targets [N], paths) for `split` ('train', 'val' or 'test') with the eval transform;
    `with_features` adds the backbone features [N, F] as a fourth item."""
    from landmarks.data.datasets import CachedImageDataset
    from landmarks.data.transforms import EvalPreset

    cfg = model.config  # type: ignore[union-attr]
    samples = getattr(prepared, split)
    store = prepared.store(size=decoded_size(cfg.image_size, cfg.crop_pct))
    store.warm([s.path for s in samples], progress=progress)
    transform = EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)
    loader = DataLoader(CachedImageDataset(samples, store, transform), batch_size=batch_size)
    log_probs, targets, features = evaluate(model, loader, runtime, tta=tta, progress=progress, desc=f"predict {split}")
    paths = [s.path for s in samples]
    return (log_probs, targets, paths, features) if with_features else (log_probs, targets, paths)


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
    log_probs, targets, paths = predict_split(model, prepared, split, runtime, tta=tta, progress=progress)
    report = compute_report(
        log_probs,
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
