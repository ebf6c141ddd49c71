"""A training run, torchvision-references style: `fit` makes a model, `run` fits then scores the test split.

`fit` trains (images -> model, or a head over frozen backbone features), keeps the best epoch on the
selection part of val, calibrates on the held-out calibration part of val (temperature + unknown
threshold) and saves `best.pt` / `last.pt` with everything inference needs. It never looks at test.
`run` then scores the saved model on test with `evaluate`, once, and writes the test report.

Neither records the user's "last trained model": the `train` and `quickstart` commands do that
(`landmarks.state.remember_last_model`), so tests and benchmarks leave it alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landmarks.atomic import atomic_write_text
from landmarks.data.prepare import PreparedDataset
from landmarks.engine.calibration import ValSplit, split_val
from landmarks.engine.checkpoint import Checkpoint, save_checkpoint
from landmarks.engine.config import Mode, TrainConfig
from landmarks.engine.decision_fit import calibrate_run
from landmarks.engine.evaluation import predict_split
from landmarks.engine.fit_frozen import fit_frozen
from landmarks.engine.fit_images import Fitted, fit_images
from landmarks.engine.history import EpochStats, echo
from landmarks.engine.loaders import load_data
from landmarks.engine.negatives import NegativeSplit, load_negatives
from landmarks.engine.report import compute_report, write_report
from landmarks.engine.resume import cpu_state
from landmarks.engine.runtime import Runtime, seed_everything, torch_threads
from landmarks.errors import LandmarksError
from landmarks.models.classifier import LandmarkClassifier, ModelConfig, create_model
from landmarks.models.scratch import ScratchConfig

__all__ = ["EpochStats", "Mode", "TrainConfig", "TrainResult", "fit", "run"]


@dataclass
class TrainResult:
    best: Path
    last: Path
    metrics: dict[str, Any]
    history: list[EpochStats]
    checkpoint: Checkpoint
    """What `best` holds."""
    prepared: PreparedDataset
    config: TrainConfig
    """The resolved configuration the run used."""
    last_is_best: bool = False
    """True when `last` is a copy of `best` (frozen runs have no per-epoch state to resume)."""


def build_model_config(config: TrainConfig, prepared: PreparedDataset) -> ModelConfig:
    n = len(prepared.classes)
    if config.model == "scratch":
        scratch = ScratchConfig.from_dict(config.scratch) if config.scratch else ScratchConfig()
        return ModelConfig.for_scratch(
            n, prepared.mean, prepared.std, config.image_size or 128, scratch, head_hidden=config.head_hidden or 0
        )
    return ModelConfig.for_transfer(config.backbone, n, config.image_size, head_hidden=config.head_hidden or 0)


def fit(config: TrainConfig) -> TrainResult:
    """Train, early-stop on val accuracy, calibrate, save `best.pt` / `last.pt`; test is left to `run`."""
    config = config.resolved()
    started = time.monotonic()
    Path(config.out).mkdir(parents=True, exist_ok=True)
    runtime = Runtime.detect(config.device, config.amp)
    with torch_threads(config.threads):
        prepared = load_data(config)
        if len(prepared.train) == 0 or len(prepared.val) == 0:
            raise LandmarksError(f"{config.data}: the train or val split is empty; nothing to train on")
        # Seeded after preparing: a first run (decoding photos) and a rerun (reading the cache) start equal.
        generator = seed_everything(config.seed)
        val_split = split_val([s.label for s in prepared.val], config.calibration_fraction, config.seed)
        if not val_split.calibrate:  # too few val photos to hold any out: calibrate on all of them
            val_split = split_val([s.label for s in prepared.val], 0.0, config.seed)
        model_config = build_model_config(config, prepared)
        model = create_model(model_config, pretrained=config.model == "transfer", weights=config.weights)
        echo(
            f"model: {config.model}"
            + (f" ({config.backbone}, {config.mode})" if config.model == "transfer" else "")
            + f", {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
            f"{model_config.image_size} px, {len(prepared.classes)} classes; {runtime.describe()}",
            config.progress,
        )
        negatives = load_negatives(config, prepared)
        echo(
            f"negatives: {negatives.source}, {len(negatives.train) + len(negatives.calibrate)} photos", config.progress
        )
        if config.model == "transfer" and config.mode == "frozen":
            fitted = fit_frozen(
                model, prepared, val_split.select, config, runtime, generator, started, negatives.train_paths
            )
        else:
            select = [prepared.val[i] for i in val_split.select]
            fitted = fit_images(model, model_config, prepared, select, config, runtime, generator)
        model.load_state_dict(fitted.best_state)
        return _save(model, model_config, prepared, val_split, negatives, config, runtime, fitted, started)


def _save(
    model: LandmarkClassifier,
    model_config: ModelConfig,
    prepared: PreparedDataset,
    val_split: ValSplit,
    negatives: NegativeSplit,
    config: TrainConfig,
    runtime: Runtime,
    fitted: Fitted,
    started: float,
) -> TrainResult:
    out = Path(config.out)
    model = runtime.prepare(model)  # type: ignore[assignment]
    calibration, index, val_acc = calibrate_run(model, prepared, val_split, negatives, config, runtime)
    history = fitted.history
    metrics: dict[str, Any] = {"val_top1": val_acc, "epochs_run": len(history), **fitted.stats}
    if history:
        metrics["train_images_per_s"] = sum(h.images_per_s for h in history) / len(history)
        metrics["train_seconds"] = sum(h.seconds for h in history)
    ckpt = Checkpoint(
        model=model_config,
        state_dict=cpu_state(model),
        classes=list(prepared.classes),
        landmarks=list(prepared.landmarks),
        calibration=calibration,
        train_config=config.to_dict(),
        metrics=metrics,
        extra={"dataset": {"root": str(prepared.root), "mean": list(prepared.mean), "std": list(prepared.std)}},
        index=index,
    )
    best = save_checkpoint(ckpt, out / "best.pt")
    last = out / "last.pt"
    last_is_best = not last.exists()
    if last_is_best:  # frozen runs have no per-epoch state to resume: last == best
        save_checkpoint(ckpt, last)
    metrics["wall_seconds"] = round(time.monotonic() - started, 1)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    point = calibration.rule().fitted.get("operating_point", {})
    echo(
        f"best val top-1 {val_acc:.2%}; temperature {calibration.temperature:.2f}; unknown below "
        f"{calibration.score} {calibration.threshold:.3f} (on the calibration photos: "
        f"{point.get('right_share', 0):.1%} answered right, precision {point.get('precision', 0):.1%}, "
        f"{point.get('negatives_answered', 0):.1%} of {negatives.record()['n_calibration']} negatives answered); "
        f"saved {best}",
        config.progress,
    )
    return TrainResult(best, last, metrics, history, ckpt, prepared, config, last_is_best)


def run(config: TrainConfig) -> TrainResult:
    """`fit`, then score the saved model on the test split (once, with `evaluate`) and write its report."""
    started = time.monotonic()
    result = fit(config)
    config, prepared, ckpt, metrics = result.config, result.prepared, result.checkpoint, result.metrics
    if not prepared.test:
        return result
    runtime = Runtime.detect(config.device, config.amp)
    with torch_threads(config.threads):
        model = runtime.prepare(ckpt.build_model())
        test = predict_split(model, prepared, "test", runtime, progress=config.progress)
    # The report describes the probabilities users see: temperature-scaled (top-k is unchanged by it).
    report = compute_report(
        test.log_probs,
        test.targets,
        prepared.classes,
        temperature=ckpt.calibration.temperature,
        names=[lm.name for lm in prepared.landmarks],
        paths=test.paths,
    )
    metrics.update(test_top1=report.top1, test_top3=report.top3, test_top5=report.top5)
    save_checkpoint(ckpt, result.best)
    if result.last_is_best:
        save_checkpoint(ckpt, result.last)
    out = Path(config.out)
    write_report(report, out / "test_report", title=f"{out.name}: test split", extra={"checkpoint": str(result.best)})
    metrics["wall_seconds"] = round(time.monotonic() - started, 1)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    echo(f"test top-1 {report.top1:.2%}, top-3 {report.top3:.2%}; report {out / 'test_report'}", config.progress)
    return result
