"""Run a model over a split of a prepared dataset; used by `landmarks train` (test) and `landmarks evaluate`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landmarks.data.negatives import collect_negatives
from landmarks.data.prepare import PreparedDataset, Sample
from landmarks.engine.library_figures import PR_CURVE_FILE, library_figures, write_precision_recall
from landmarks.engine.loaders import decoded_size, eval_loader
from landmarks.engine.loop import evaluate
from landmarks.engine.runtime import Runtime
from landmarks.models.classifier import LandmarkClassifier
from landmarks.retrieval.decision import Decided, decide


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
    seed: int | None = None,
    val_fraction: float | None = None,
    negatives: Sequence[Path] = (),
    progress: bool = True,
) -> tuple[Any, dict[str, Path]]:
    """Evaluate a saved model on a split of `data` and write the report (md, json, PNGs) into `out`.

    The split is the checkpoint's own (its seed and val fraction) unless given. With `negatives`
    (folders of photos of no landmark), the report adds the library figures: GAP, the precision/recall
    curve of written locations, and what the stored threshold does on landmark photos and negatives."""
    from landmarks.data.prepare import prepare_dataset
    from landmarks.engine.checkpoint import load_checkpoint
    from landmarks.engine.report import compute_report, write_report
    from landmarks.errors import DatasetError

    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}: choose train, val or test")
    ckpt = load_checkpoint(checkpoint)
    trained = ckpt.train_config
    seed = int(trained.get("seed", 0)) if seed is None else seed
    val_fraction = float(trained.get("val_fraction", 0.2)) if val_fraction is None else val_fraction
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
    # Negatives are checked before any photo is scored: a bad folder fails at once, not after the split.
    dataset = {digest: path for path, digest in prepared.digests.items()}
    negative_samples = [Sample(p.path, -1) for p in collect_negatives(list(negatives), exclude_digests=dataset)]
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
    title = f"{Path(checkpoint).name} on {Path(data).name}/{split}" + (" (flip TTA)" if tta else "")
    rule = ckpt.calibration.rule()
    extra: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": split,
        "tta": tta,
        "model": ckpt.model.to_dict(),
        "train_metrics": ckpt.metrics,
        "decision": {k: v for k, v in rule.to_dict().items() if k != "fitted"},
        "decision_fitted_on": rule.fitted,
    }
    curve = None
    if negatives:
        negative_predicted = predict_split(model, prepared, split, runtime, progress=progress, samples=negative_samples)
        shown = decide_split(ckpt, model, predicted)
        negative_shown = decide_split(ckpt, model, negative_predicted)
        args = (shown.confidence, shown.probs.argmax(1), targets.numpy(), negative_shown.confidence, rule)
        extra["library"] = library_figures(*args)
        extra["library"]["negative_folders"] = [str(d) for d in negatives]
        curve = write_precision_recall(*args, Path(out) / PR_CURVE_FILE, title=f"{title}: written locations")
    written = write_report(report, Path(out), title=title, extra=extra)
    if curve is not None:
        written["precision_recall"] = curve
    return report, written


def decide_split(ckpt: Any, model: LandmarkClassifier, predicted: SplitPredictions) -> Decided:
    """The checkpoint's decision on a split's model outputs (as the Predictor makes it)."""
    probs = torch.softmax(predicted.log_probs.float() / ckpt.calibration.temperature, dim=1).numpy()
    embeddings = None
    if ckpt.index is not None and predicted.features is not None:
        embeddings = model.embed(predicted.features).numpy()
    return decide(ckpt.calibration.rule(), probs, embeddings, ckpt.index)
