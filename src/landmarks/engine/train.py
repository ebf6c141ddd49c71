"""Training, torchvision-references style: `train_one_epoch`, `evaluate`, `load_data`, `fit`.

Two kinds of run share this loop:
- images -> model (scratch CNN, or a pretrained backbone fine-tuned with a lower learning rate);
- frozen transfer: backbone features are computed once (several augmented views per photo) and cached,
  then only the head trains, over feature vectors (`engine/features.py`): seconds to minutes on a CPU.
Every run ends the same way: the best epoch's weights are calibrated on val (temperature + unknown
threshold), evaluated on test, and saved with everything inference needs.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from landmarks import __version__
from landmarks.engine.checkpoint import Calibration, Checkpoint, load_checkpoint, save_checkpoint
from landmarks.engine.losses import SmoothedNLLLoss, mixup_cutmix
from landmarks.engine.runtime import Runtime, seed_everything, torch_threads
from landmarks.engine.schedule import WarmupCosine, warmup_cosine
from landmarks.errors import CheckpointError, LandmarksError
from landmarks.inference.calibration import (
    UnknownScore,
    calibrated_probs,
    centroid_similarity,
    choose_threshold,
    class_centroids,
    fit_temperature,
)
from landmarks.models.classifier import LandmarkClassifier, ModelConfig, create_model
from landmarks.models.scratch import ScratchConfig

Mode = Literal["frozen", "finetune"]


@dataclass
class TrainConfig:
    """Every knob of a run; the defaults are the best recipes measured (README results table)."""

    data: Path
    out: Path
    model: Literal["scratch", "transfer"] = "transfer"
    backbone: str = "efficientnet_lite0+efficientnet_lite2"
    """Frozen features of both Lite0 and Lite2, side by side: 93.1 % on proxy44 test (README)."""
    mode: Mode = "frozen"
    image_size: int | None = None
    """Scratch default 128; transfer default: the backbone's own input size."""
    epochs: int | None = None
    """Default: scratch 70, fine-tuning 12, frozen head 80."""
    batch_size: int = 32
    lr: float | None = None
    """Peak learning rate (head / scratch). Default: scratch 2e-3, fine-tuning 1e-3, frozen head 2e-3."""
    backbone_lr_scale: float = 0.1
    """Fine-tuning: the backbone learns at lr x this."""
    unfreeze_after: int = 1
    """Fine-tuning: epochs that train only the head before the backbone is unfrozen (gradual unfreezing)."""
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    mixup: float = 0.0
    """MixUp/CutMix Beta alpha for image runs; 0 turns it off."""
    patience: int = 15
    """Early stopping: epochs without a better val accuracy."""
    seed: int = 0
    val_fraction: float = 0.2
    time_budget_min: float | None = None
    resume: bool = False
    weights: Path | None = None
    """Backbone weights file (when not found offline)."""
    workers: int = 0
    threads: int | None = None
    amp: bool = True
    device: str | None = None
    head_hidden: int | None = None
    """0: a linear head; >0: an MLP head with one hidden layer this wide. Default: 1024 for frozen
    transfer (the head is all that trains), 0 otherwise."""
    feature_views: int = 10
    """Frozen mode: augmented views per training photo (view 0 is the plain eval crop)."""
    unknown_score: UnknownScore = "max_softmax"
    """The score the unknown decision uses; both are fitted and stored (inference/calibration.py). On the
    open-set protocol of benchmarks/ood_proxy44.py the calibrated softmax separates far better (AUROC
    0.917 vs 0.779 for the class-centre cosine)."""
    keep_correct: float = 0.95
    """Unknown threshold: the share of correct val answers kept above it."""
    cache: Path | None = None
    progress: bool = True
    scratch: dict[str, Any] = field(default_factory=dict)
    """Overrides of ScratchConfig fields (widths, blocks, dropout, drop_path)."""

    def resolved(self) -> TrainConfig:
        """Fill the model-dependent defaults, so the run's record says what was actually used."""
        c = TrainConfig(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        image = c.model == "scratch"
        if c.image_size is None and image:
            c.image_size = 128
        if c.epochs is None:
            c.epochs = 70 if image else (12 if c.mode == "finetune" else 80)
        if c.head_hidden is None:
            c.head_hidden = 1024 if c.model == "transfer" and c.mode == "frozen" else 0
        if c.lr is None:
            c.lr = 2e-3 if image or c.mode == "frozen" else 1e-3
        return c

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_s: float


@dataclass
class TrainResult:
    best: Path
    last: Path
    metrics: dict[str, Any]
    history: list[EpochStats]


# --------------------------------------------------------------------------------------------- data


def decoded_size(image_size: int, crop_pct: float) -> int:
    """Shorter side the photos are cached at: enough for the eval resize, and >= 256 for random crops."""
    return max(256, round(image_size / crop_pct))


def load_data(config: TrainConfig) -> Any:
    """Split, statistics and the decoded-image store for `config.data` (prepared once, then reused).

    Photos are decoded once, at the size the model needs, so no later step decodes them again.
    """
    from landmarks.data.prepare import prepare_dataset
    from landmarks.models.backbones import get_backbone_spec

    size = 256
    if config.model == "transfer":
        spec = get_backbone_spec(config.backbone)
        size = decoded_size(config.image_size or spec.input_size, spec.crop_pct)
    return prepare_dataset(
        Path(config.data),
        val_fraction=config.val_fraction,
        seed=config.seed,
        cache=config.cache,
        progress=config.progress,
        image_size=size,
    )


def image_loaders(
    prepared: Any, model_config: ModelConfig, config: TrainConfig, generator: torch.Generator
) -> tuple[DataLoader, DataLoader]:
    from landmarks.data.datasets import CachedImageDataset
    from landmarks.data.transforms import EvalPreset, TrainPreset

    store = prepared.store()
    store.warm([s.path for s in (*prepared.train, *prepared.val)], progress=config.progress)
    size, mean, std = model_config.image_size, model_config.mean, model_config.std
    train_ds = CachedImageDataset(prepared.train, store, TrainPreset(size, mean, std))
    val_ds = CachedImageDataset(prepared.val, store, EvalPreset(size, mean, std, crop_pct=model_config.crop_pct))
    kw: dict[str, Any] = {"num_workers": config.workers, "persistent_workers": config.workers > 0}
    train = DataLoader(train_ds, batch_size=config.batch_size, shuffle=True, drop_last=True, generator=generator, **kw)
    val = DataLoader(val_ds, batch_size=max(64, config.batch_size), shuffle=False, **kw)
    return train, val


# ---------------------------------------------------------------------------------------- the loop


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: nn.Module,
    runtime: Runtime,
    *,
    epoch: int,
    num_classes: int,
    mixup: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
    total: int | None = None,
) -> tuple[float, float, float]:
    """One pass over `loader`; returns (mean loss, accuracy, images/s)."""
    model.train()
    loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    bar = tqdm(loader, total=total, desc=f"epoch {epoch:3d} train", leave=False, disable=not progress)
    for x, y in bar:
        x, y = runtime.to_input(x), y.to(runtime.device)
        target: torch.Tensor = y
        if mixup > 0:
            x, target = mixup_cutmix(x, y, num_classes, mixup, generator)
        with runtime.autocast():
            log_probs = model(x)
        loss = loss_fn(log_probs, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n = y.shape[0]
        loss_sum += float(loss.detach()) * n
        correct += int((log_probs.argmax(1) == y).sum())
        seen += n
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
    seconds = time.perf_counter() - start
    return loss_sum / max(1, seen), correct / max(1, seen), seen / max(seconds, 1e-9)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    runtime: Runtime,
    *,
    tta: bool = False,
    progress: bool = False,
    desc: str = "eval",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Log-probabilities [N, C] (fp32), targets [N], and the backbone features [N, F] of a LandmarkClassifier
    (of the unmirrored photo; None for other modules). With `tta`: the mean of the photo and its mirror."""
    model.eval()
    split = isinstance(model, LandmarkClassifier)
    outs, targets, feats = [], [], []
    for x, y in tqdm(loader, desc=desc, leave=False, disable=not progress):
        x = runtime.to_input(x)
        with runtime.autocast():
            if split:
                features = model.forward_features(x)
                log_probs = model.forward_head(features).float()
                feats.append(features.float().cpu())
            else:
                log_probs = model(x).float()
            if tta and x.dim() == 4:
                mirrored = model(x.flip(-1)).float()
                log_probs = torch.logsumexp(torch.stack([log_probs, mirrored]), 0) - math.log(2)
        outs.append(log_probs.cpu())
        targets.append(y.cpu())
    return torch.cat(outs), torch.cat(targets), (torch.cat(feats) if feats else None)


def nll_and_accuracy(log_probs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    loss = float(nn.functional.nll_loss(log_probs, targets))
    return loss, float((log_probs.argmax(1) == targets).float().mean())


# ------------------------------------------------------------------------------------ the whole run


def build_model_config(config: TrainConfig, prepared: Any) -> ModelConfig:
    n = len(prepared.classes)
    if config.model == "scratch":
        scratch = ScratchConfig.from_dict(config.scratch) if config.scratch else ScratchConfig()
        return ModelConfig.for_scratch(
            n, prepared.mean, prepared.std, config.image_size or 128, scratch, head_hidden=config.head_hidden or 0
        )
    return ModelConfig.for_transfer(config.backbone, n, config.image_size, head_hidden=config.head_hidden or 0)


def make_optimizer(model: LandmarkClassifier, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms and biases; the pretrained backbone at a lower learning rate."""
    assert config.lr is not None
    backbone_lr = config.lr * (config.backbone_lr_scale if config.model == "transfer" else 1.0)
    groups = []
    for module, lr in ((model.backbone, backbone_lr), (model.head, config.lr)):
        decay = [p for p in module.parameters() if p.requires_grad and p.dim() > 1]
        no_decay = [p for p in module.parameters() if p.requires_grad and p.dim() <= 1]
        groups += [
            {"params": decay, "lr": lr, "weight_decay": config.weight_decay},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def fit(config: TrainConfig) -> TrainResult:
    """Train, early-stop on val accuracy, calibrate, evaluate on test, save `best.pt` / `last.pt`."""
    config = config.resolved()
    started = time.monotonic()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    generator = seed_everything(config.seed)
    runtime = Runtime.detect(config.device, config.amp)
    with torch_threads(config.threads):
        prepared = load_data(config)
        if len(prepared.train) == 0 or len(prepared.val) == 0:
            raise LandmarksError(f"{config.data}: the train or val split is empty; nothing to train on")
        model_config = build_model_config(config, prepared)
        model = create_model(model_config, pretrained=config.model == "transfer", weights=config.weights)
        _echo(
            f"model: {config.model}"
            + (f" ({config.backbone}, {config.mode})" if config.model == "transfer" else "")
            + f", {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
            f"{model_config.image_size} px, {len(prepared.classes)} classes; {runtime.describe()}",
            config,
        )
        if config.model == "transfer" and config.mode == "frozen":
            history, best_state, stats = _fit_frozen(model, prepared, config, runtime, generator, started)
        else:
            history, best_state, stats = _fit_images(model, model_config, prepared, config, runtime, generator)
        model.load_state_dict(best_state)
        return _finish(model, model_config, prepared, config, runtime, history, stats, started)


def _fit_images(
    model: LandmarkClassifier,
    model_config: ModelConfig,
    prepared: Any,
    config: TrainConfig,
    runtime: Runtime,
    generator: torch.Generator,
) -> tuple[list[EpochStats], dict[str, torch.Tensor], dict[str, Any]]:
    assert config.epochs is not None
    train_loader, val_loader = image_loaders(prepared, model_config, config, generator)
    model = runtime.prepare(model)  # type: ignore[assignment]
    optimizer = make_optimizer(model, config)
    steps_per_epoch = len(train_loader)
    schedule = WarmupCosine(config.epochs * steps_per_epoch, int(config.warmup_epochs * steps_per_epoch))
    scheduler = warmup_cosine(optimizer, schedule)
    loss_fn = SmoothedNLLLoss(config.label_smoothing)
    history: list[EpochStats] = []
    best_acc, best_state, start_epoch, elapsed = -1.0, _state(model), 1, 0.0
    last_path = Path(config.out) / "last.pt"
    if config.resume:
        start_epoch, best_acc, best_state, history, elapsed = _resume(
            last_path, model, optimizer, scheduler, schedule, generator
        )
    finetune = config.model == "transfer"
    t0 = time.perf_counter() - elapsed
    epoch = start_epoch
    while epoch <= config.epochs:
        if finetune:
            _set_backbone_trainable(model, epoch > config.unfreeze_after)
        t_epoch = time.perf_counter()
        loss, acc, ips = train_one_epoch(
            model,
            train_loader,
            optimizer,
            scheduler,
            loss_fn,
            runtime,
            epoch=epoch,
            num_classes=model_config.num_classes,
            mixup=config.mixup,
            generator=generator,
            progress=config.progress,
            total=steps_per_epoch,
        )
        val_lp, val_y, _ = evaluate(model, val_loader, runtime)
        val_loss, val_acc = nll_and_accuracy(val_lp, val_y)
        epoch_stats = EpochStats(
            epoch,
            loss,
            acc,
            val_loss,
            val_acc,
            optimizer.param_groups[-1]["lr"],
            time.perf_counter() - t_epoch,
            ips,
        )
        history.append(epoch_stats)
        improved = val_acc > best_acc
        if improved:
            best_acc, best_state = val_acc, _state(model)
        _report_epoch(epoch_stats, config, improved)
        elapsed = time.perf_counter() - t0
        _save_last(
            last_path,
            model,
            model_config,
            prepared,
            config,
            optimizer,
            scheduler,
            schedule,
            generator,
            epoch,
            best_acc,
            best_state,
            history,
            elapsed,
        )
        _write_history(history, Path(config.out))
        if _out_of_time(config, elapsed, history, schedule, steps_per_epoch, epoch):
            break
        if epoch - max(h.epoch for h in history if h.val_acc == best_acc) >= config.patience:
            _echo(f"early stop: no better val accuracy for {config.patience} epochs", config)
            break
        epoch += 1
    return history, best_state, {}


def _out_of_time(
    config: TrainConfig,
    elapsed: float,
    history: list[EpochStats],
    schedule: WarmupCosine,
    steps_per_epoch: int,
    epoch: int,
) -> bool:
    """With a time budget, fit the cosine schedule to the epochs that fit, and stop when none does.

    The pace is the median of recent epochs, so one epoch slowed by other work on the machine does not
    cut the plan short; the plan is revised every epoch (never beyond `epochs`). A time budget makes
    the schedule depend on the machine's speed: runs without one are fully reproducible.
    """
    if not config.time_budget_min:
        return False
    assert config.epochs is not None
    budget = config.time_budget_min * 60
    per_epoch = statistics.median(h.seconds for h in history[-5:])
    planned = min(config.epochs, epoch + int((budget - elapsed) // per_epoch))
    schedule.total_steps = max(planned, epoch) * steps_per_epoch
    return elapsed + per_epoch > budget


def _set_backbone_trainable(model: LandmarkClassifier, trainable: bool) -> None:
    for p in model.backbone.parameters():
        p.requires_grad_(trainable)


def _fit_frozen(
    model: LandmarkClassifier,
    prepared: Any,
    config: TrainConfig,
    runtime: Runtime,
    generator: torch.Generator,
    started: float,
) -> tuple[list[EpochStats], dict[str, torch.Tensor], dict[str, Any]]:
    """Cache backbone features of several augmented views, then train the head alone on them."""
    from landmarks.engine.features import FeatureExtractor

    assert config.epochs is not None and config.lr is not None
    extractor = FeatureExtractor(model, prepared, runtime, progress=config.progress)
    deadline = None
    if config.time_budget_min:  # leave a fifth of the budget for the head, calibration and the test split
        deadline = started + 0.8 * 60 * config.time_budget_min
    train_x = extractor.train_views(config.feature_views, seed=config.seed, deadline=deadline)  # [N, V, F]
    run_stats = {
        "feature_views": int(train_x.shape[1]),
        "feature_images": extractor.images_computed,
        "feature_seconds": round(extractor.seconds, 1),
        "feature_images_per_s": extractor.images_computed / max(extractor.seconds, 1e-9),
    }
    if train_x.shape[1] < config.feature_views:
        _echo(f"time budget: {train_x.shape[1]} of {config.feature_views} feature views computed", config)
    val_x = extractor.eval_view("val")
    train_y = torch.tensor([s.label for s in prepared.train])
    val_y = torch.tensor([s.label for s in prepared.val])
    head = model.head
    batch = 128
    steps_per_epoch = math.ceil(len(train_y) / batch)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = WarmupCosine(config.epochs * steps_per_epoch, int(config.warmup_epochs * steps_per_epoch))
    scheduler = warmup_cosine(optimizer, schedule)
    loss_fn = SmoothedNLLLoss(config.label_smoothing)
    history: list[EpochStats] = []
    best_acc, best_state = -1.0, _state(model)
    views = train_x.shape[1]
    for epoch in range(1, config.epochs + 1):
        t_epoch = time.perf_counter()
        # Each epoch sees one randomly chosen augmented view of every photo.
        pick = torch.randint(views, (len(train_y),), generator=generator)
        feats = train_x[torch.arange(len(train_y)), pick].float()
        loader = DataLoader(TensorDataset(feats, train_y), batch_size=batch, shuffle=True, generator=generator)
        loss, acc, ips = train_one_epoch(
            head,
            loader,
            optimizer,
            scheduler,
            loss_fn,
            Runtime(torch.device("cpu"), None, False),
            epoch=epoch,
            num_classes=len(prepared.classes),
            progress=False,
        )
        head.eval()
        with torch.no_grad():
            val_lp = head(val_x.float())
        val_loss, val_acc = nll_and_accuracy(val_lp, val_y)
        epoch_stats = EpochStats(
            epoch,
            loss,
            acc,
            val_loss,
            val_acc,
            optimizer.param_groups[0]["lr"],
            time.perf_counter() - t_epoch,
            ips,
        )
        history.append(epoch_stats)
        if val_acc > best_acc:
            best_acc, best_state = val_acc, _state(model)
        if config.progress and (epoch % 10 == 0 or epoch == config.epochs):
            _report_epoch(epoch_stats, config, False)
    _write_history(history, Path(config.out))
    return history, best_state, run_stats


def calibrate(
    val_log_probs: torch.Tensor,
    val_targets: torch.Tensor,
    val_features: torch.Tensor,
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    config: TrainConfig,
) -> Calibration:
    """Temperature on val; class centres from train; a threshold per unknown score, kept-correct on val."""
    temperature = fit_temperature(val_log_probs, val_targets)
    probs, predicted = calibrated_probs(val_log_probs, temperature).max(1)
    correct = predicted == val_targets
    centroids = class_centroids(train_features, train_targets, val_log_probs.shape[1])
    scores = {"max_softmax": probs, "centroid_cosine": centroid_similarity(val_features, centroids)}
    thresholds = {name: choose_threshold(s, correct, keep=config.keep_correct) for name, s in scores.items()}
    return Calibration(
        temperature=temperature,
        threshold=thresholds[config.unknown_score],
        score=config.unknown_score,
        centroids=centroids,
        details={
            "keep_correct": config.keep_correct,
            "fitted_on": "val",
            "n_val": len(val_targets),
            "thresholds": thresholds,
        },
    )


def _finish(
    model: LandmarkClassifier,
    model_config: ModelConfig,
    prepared: Any,
    config: TrainConfig,
    runtime: Runtime,
    history: list[EpochStats],
    stats: dict[str, Any],
    started: float,
) -> TrainResult:
    """Calibrate on val, evaluate on test, save best.pt, write the report and remember the model."""
    from landmarks.engine.evaluation import predict_split

    out = Path(config.out)
    model = runtime.prepare(model)  # type: ignore[assignment]
    val_lp, val_y, _, val_feats = predict_split(
        model, prepared, "val", runtime, progress=config.progress, with_features=True
    )
    train_y = torch.tensor([s.label for s in prepared.train])
    if config.model == "transfer" and config.mode == "frozen":  # already computed and cached
        from landmarks.engine.features import FeatureExtractor

        train_feats = FeatureExtractor(model, prepared, runtime, progress=config.progress).eval_view("train")
    else:
        _, _, _, train_feats = predict_split(
            model, prepared, "train", runtime, progress=config.progress, with_features=True
        )
    calibration = calibrate(val_lp, val_y, val_feats, train_feats, train_y, config)
    _, val_acc = nll_and_accuracy(val_lp, val_y)
    metrics: dict[str, Any] = {"val_top1": val_acc, "epochs_run": len(history), **stats}
    if history:
        metrics["train_images_per_s"] = sum(h.images_per_s for h in history) / len(history)
        metrics["train_seconds"] = sum(h.seconds for h in history)
    test_report = None
    if prepared.test:
        from landmarks.engine.report import compute_report, write_report

        test_lp, test_y, paths = predict_split(model, prepared, "test", runtime, progress=config.progress)
        test_report = compute_report(
            test_lp,
            test_y,
            prepared.classes,
            temperature=calibration.temperature,
            names=[lm.name for lm in prepared.landmarks],
            paths=paths,
        )
        metrics.update(test_top1=test_report.top1, test_top3=test_report.top3, test_top5=test_report.top5)
    ckpt = Checkpoint(
        model=model_config,
        state_dict=_state(model),
        classes=list(prepared.classes),
        landmarks=list(prepared.landmarks),
        calibration=calibration,
        train_config=config.to_dict(),
        metrics=metrics,
        extra={"dataset": {"root": str(prepared.root), "mean": list(prepared.mean), "std": list(prepared.std)}},
    )
    best = save_checkpoint(ckpt, out / "best.pt")
    last = out / "last.pt"
    if not last.exists():  # frozen runs have no per-epoch state to resume: last == best
        save_checkpoint(ckpt, last)
    if test_report is not None:
        from landmarks.engine.report import write_report

        write_report(test_report, out / "test_report", title=f"{out.name}: test split", extra={"checkpoint": str(best)})
    metrics["wall_seconds"] = round(time.monotonic() - started, 1)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    remember_last_model(best, config.cache)
    _echo(
        f"best val top-1 {val_acc:.2%}"
        + (f"; test top-1 {metrics['test_top1']:.2%}, top-3 {metrics['test_top3']:.2%}" if test_report else "")
        + f"; temperature {calibration.temperature:.2f}, unknown below {calibration.score} "
        f"{calibration.threshold:.2f}; saved {best}",
        config,
    )
    return TrainResult(best=best, last=last, metrics=metrics, history=history)


# ---------------------------------------------------------------------------------- state and records


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _save_last(
    path: Path,
    model: LandmarkClassifier,
    model_config: ModelConfig,
    prepared: Any,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    schedule: WarmupCosine,
    generator: torch.Generator,
    epoch: int,
    best_acc: float,
    best_state: dict[str, torch.Tensor],
    history: list[EpochStats],
    elapsed: float,
) -> None:
    extra = {
        "epoch": epoch,
        "best_val_acc": best_acc,
        "best_state": best_state,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "schedule_total_steps": schedule.total_steps,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": [asdict(h) for h in history],
        "elapsed": elapsed,
    }
    save_checkpoint(
        Checkpoint(
            model_config,
            _state(model),
            list(prepared.classes),
            list(prepared.landmarks),
            train_config=config.to_dict(),
            extra=extra,
        ),
        path,
    )


def _resume(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    schedule: WarmupCosine,
    generator: torch.Generator,
) -> tuple[int, float, dict[str, torch.Tensor], list[EpochStats], float]:
    if not path.is_file():
        raise CheckpointError(f"--resume: {path} does not exist (nothing to resume in this run directory)")
    ckpt = load_checkpoint(path)
    extra = ckpt.extra
    if "optimizer" not in extra:
        raise CheckpointError(f"--resume: {path} holds no training state (a finished or frozen-feature run)")
    try:
        model.load_state_dict(ckpt.state_dict)
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"--resume: {path} was made with a different model or options: {exc}") from exc
    schedule.total_steps = int(extra["schedule_total_steps"])
    generator.set_state(extra["generator"])
    torch.set_rng_state(extra["torch_rng"])
    history = [EpochStats(**h) for h in extra["history"]]
    return (
        int(extra["epoch"]) + 1,
        float(extra["best_val_acc"]),
        extra["best_state"],
        history,
        float(extra["elapsed"]),
    )


def _write_history(history: list[EpochStats], out: Path) -> None:
    """`metrics.csv` and `training_curves.png` in the run directory, rewritten after each epoch."""
    if not history:
        return
    with (out / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(history[0])))
        writer.writeheader()
        writer.writerows(asdict(h) for h in history)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=110)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [h.epoch for h in history]
    ax_loss.plot(epochs, [h.train_loss for h in history], label="train")
    ax_loss.plot(epochs, [h.val_loss for h in history], label="val")
    ax_loss.set(title="loss (NLL)", xlabel="epoch")
    ax_acc.plot(epochs, [h.train_acc for h in history], label="train")
    ax_acc.plot(epochs, [h.val_acc for h in history], label="val")
    ax_acc.set(title="top-1 accuracy", xlabel="epoch", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "training_curves.png")


def _report_epoch(stats: EpochStats, config: TrainConfig, improved: bool) -> None:
    _echo(
        f"epoch {stats.epoch:3d}  train loss {stats.train_loss:.3f} acc {stats.train_acc:.3f}  "
        f"val loss {stats.val_loss:.3f} acc {stats.val_acc:.3f}{' *' if improved else ''}  "
        f"lr {stats.lr:.2e}  {stats.seconds:.0f}s  {stats.images_per_s:.0f} img/s",
        config,
    )


def _echo(message: str, config: TrainConfig) -> None:
    if config.progress:
        tqdm.write(message)


LAST_MODEL_FILE = "last_model.json"


def remember_last_model(checkpoint: Path, cache: Path | None = None) -> None:
    """Record the finished model so `landmarks predict` finds it without being told."""
    from landmarks.settings import cache_dir

    record = {"checkpoint": str(Path(checkpoint).resolve()), "version": __version__, "time": time.time()}
    target = cache_dir(cache) / LAST_MODEL_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(target)


def last_model(cache: Path | None = None) -> Path | None:
    from landmarks.settings import cache_dir

    path = cache_dir(cache) / LAST_MODEL_FILE
    try:
        return Path(json.loads(path.read_text())["checkpoint"])
    except (OSError, ValueError, KeyError):
        return None


ProgressCallback = Callable[[EpochStats], None]
