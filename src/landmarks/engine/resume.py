"""Resumable training state: what `last.pt` holds after each epoch of an image run, and reading it back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from landmarks.data.prepare import PreparedDataset
from landmarks.engine.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from landmarks.engine.config import TrainConfig
from landmarks.engine.history import EpochStats
from landmarks.engine.schedule import WarmupCosine
from landmarks.errors import CheckpointError
from landmarks.models.classifier import ModelConfig


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the weights (the best epoch's, kept while training goes on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class TrainingState:
    """Where an image run stands after an epoch: enough to continue it exactly."""

    epoch: int
    best_acc: float
    best_state: dict[str, torch.Tensor]
    history: list[EpochStats]
    elapsed: float


def save_last(
    path: Path,
    model: nn.Module,
    model_config: ModelConfig,
    prepared: PreparedDataset,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    schedule: WarmupCosine,
    generator: torch.Generator,
    state: TrainingState,
) -> None:
    extra = {
        "epoch": state.epoch,
        "best_val_acc": state.best_acc,
        "best_state": state.best_state,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "schedule_total_steps": schedule.total_steps,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": [asdict(h) for h in state.history],
        "elapsed": state.elapsed,
    }
    save_checkpoint(
        Checkpoint(
            model_config,
            cpu_state(model),
            list(prepared.classes),
            list(prepared.landmarks),
            train_config=config.to_dict(),
            extra=extra,
        ),
        path,
    )


def resume(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    schedule: WarmupCosine,
    generator: torch.Generator,
) -> TrainingState:
    """Load `path` into the model, optimizer, schedule and RNGs; the returned epoch is the last one finished."""
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
    return TrainingState(
        epoch=int(extra["epoch"]),
        best_acc=float(extra["best_val_acc"]),
        best_state=extra["best_state"],
        history=[EpochStats(**h) for h in extra["history"]],
        elapsed=float(extra["elapsed"]),
    )
