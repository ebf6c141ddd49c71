"""Images -> model: a scratch CNN, or a pretrained backbone fine-tuned at a lower learning rate.

Every epoch is checkpointed to `last.pt` (resumable with `--resume`); early stopping and the best
epoch are decided on the val photos given (the selection part of val), never on test.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from landmarks.data.prepare import PreparedDataset, Sample
from landmarks.engine.config import TrainConfig
from landmarks.engine.history import EpochStats, echo, report_epoch, write_history
from landmarks.engine.loaders import image_loaders
from landmarks.engine.loop import evaluate, nll_and_accuracy, train_one_epoch
from landmarks.engine.losses import MixUpCutMix, SmoothedNLLLoss
from landmarks.engine.resume import TrainingState, cpu_state, resume, save_last
from landmarks.engine.runtime import Runtime
from landmarks.engine.schedule import WarmupCosine, warmup_cosine
from landmarks.models.classifier import LandmarkClassifier, ModelConfig


@dataclass
class Fitted:
    """What a fit strategy hands back: the epochs it ran, the best epoch's weights, figures about the run."""

    history: list[EpochStats]
    best_state: dict[str, torch.Tensor]
    stats: dict[str, Any] = field(default_factory=dict)


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


def fit_images(
    model: LandmarkClassifier,
    model_config: ModelConfig,
    prepared: PreparedDataset,
    val_samples: Sequence[Sample],
    config: TrainConfig,
    runtime: Runtime,
    generator: torch.Generator,
) -> Fitted:
    assert config.epochs is not None
    train_loader, val_loader = image_loaders(prepared, val_samples, model_config, config, generator)
    model = runtime.prepare(model)  # type: ignore[assignment]
    optimizer = make_optimizer(model, config)
    steps_per_epoch = len(train_loader)
    schedule = WarmupCosine(config.epochs * steps_per_epoch, int(config.warmup_epochs * steps_per_epoch))
    scheduler = warmup_cosine(optimizer, schedule)
    loss_fn = SmoothedNLLLoss(config.label_smoothing)
    mix = MixUpCutMix(config.mixup, model_config.num_classes) if config.mixup > 0 else None
    last_path = Path(config.out) / "last.pt"
    state = TrainingState(epoch=0, best_acc=-1.0, best_state=cpu_state(model), history=[], elapsed=0.0)
    if config.resume:
        state = resume(last_path, model, optimizer, scheduler, schedule, generator)
    finetune = config.model == "transfer"
    t0 = time.perf_counter() - state.elapsed
    epoch = state.epoch + 1
    while epoch <= config.epochs:
        if finetune:
            set_backbone_trainable(model, epoch > config.unfreeze_after)
        t_epoch = time.perf_counter()
        loss, acc, ips = train_one_epoch(
            model,
            train_loader,
            optimizer,
            scheduler,
            loss_fn,
            runtime,
            epoch=epoch,
            mix=mix,
            generator=generator,
            progress=config.progress,
            total=steps_per_epoch,
        )
        val_lp, val_y, _ = evaluate(model, val_loader, runtime)
        val_loss, val_acc = nll_and_accuracy(val_lp, val_y)
        epoch_stats = EpochStats(
            epoch, loss, acc, val_loss, val_acc, optimizer.param_groups[-1]["lr"], time.perf_counter() - t_epoch, ips
        )
        state.history.append(epoch_stats)
        improved = val_acc > state.best_acc
        if improved:
            state.best_acc, state.best_state = val_acc, cpu_state(model)
        report_epoch(epoch_stats, config.progress, improved)
        state.epoch, state.elapsed = epoch, time.perf_counter() - t0
        save_last(last_path, model, model_config, prepared, config, optimizer, scheduler, schedule, generator, state)
        write_history(state.history, Path(config.out))
        if out_of_time(config, state.elapsed, state.history, schedule, steps_per_epoch, epoch):
            break
        if epoch - max(h.epoch for h in state.history if h.val_acc == state.best_acc) >= config.patience:
            echo(f"early stop: no better val accuracy for {config.patience} epochs", config.progress)
            break
        epoch += 1
    return Fitted(state.history, state.best_state)


def out_of_time(
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


def set_backbone_trainable(model: LandmarkClassifier, trainable: bool) -> None:
    for p in model.backbone.parameters():
        p.requires_grad_(trainable)
