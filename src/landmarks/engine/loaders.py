"""`load_data` and the DataLoaders of an image run (torchvision references' `load_data`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from landmarks.data.datasets import CachedImageDataset
from landmarks.data.prepare import PreparedDataset, Sample, prepare_dataset
from landmarks.data.transforms import EvalPreset, TrainPreset
from landmarks.engine.config import TrainConfig
from landmarks.models.backbones import get_backbone_spec
from landmarks.models.classifier import ModelConfig


def decoded_size(image_size: int, crop_pct: float) -> int:
    """Shorter side the photos are cached at: enough for the eval resize, and >= 256 for random crops."""
    return max(256, round(image_size / crop_pct))


def load_data(config: TrainConfig) -> PreparedDataset:
    """Split, statistics and the decoded-image store for `config.data` (prepared once, then reused).

    Photos are decoded once, at the size the model needs, so no later step decodes them again.
    """
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


def eval_loader(
    samples: Sequence[Sample], prepared: PreparedDataset, model_config: ModelConfig, batch_size: int = 64, **kw: Any
) -> DataLoader:
    """Photos in order, through the eval transform (resize + centre crop), from the decoded-image store."""
    cfg = model_config
    store = prepared.store(size=decoded_size(cfg.image_size, cfg.crop_pct))
    transform = EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)
    return DataLoader(CachedImageDataset(list(samples), store, transform), batch_size=batch_size, shuffle=False, **kw)


def image_loaders(
    prepared: PreparedDataset,
    val_samples: Sequence[Sample],
    model_config: ModelConfig,
    config: TrainConfig,
    generator: torch.Generator,
) -> tuple[DataLoader, DataLoader]:
    """Shuffled, augmented training batches (drawn with `generator`) and the val photos in order."""
    store = prepared.store()
    store.warm([s.path for s in (*prepared.train, *prepared.val)], progress=config.progress)
    size, mean, std = model_config.image_size, model_config.mean, model_config.std
    train_ds = CachedImageDataset(prepared.train, store, TrainPreset(size, mean, std))
    val_ds = CachedImageDataset(list(val_samples), store, EvalPreset(size, mean, std, crop_pct=model_config.crop_pct))
    kw: dict[str, Any] = {"num_workers": config.workers, "persistent_workers": config.workers > 0}
    train = DataLoader(train_ds, batch_size=config.batch_size, shuffle=True, drop_last=True, generator=generator, **kw)
    val = DataLoader(val_ds, batch_size=max(64, config.batch_size), shuffle=False, **kw)
    return train, val
