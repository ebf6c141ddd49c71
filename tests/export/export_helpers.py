"""Small real checkpoints for the export tests: built in milliseconds, no training needed for parity."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers import TINY_CLASSES, TINY_SCRATCH
from landmarks.catalog import catalog_for
from landmarks.engine.checkpoint import Calibration, Checkpoint, save_checkpoint
from landmarks.models.classifier import ModelConfig, create_model


def random_checkpoint(path: Path, *, image_size: int = 48, head_hidden: int = 16, seed: int = 0) -> Path:
    """A scratch-model checkpoint with random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    config = ModelConfig.for_scratch(
        len(TINY_CLASSES),
        mean=(0.4, 0.5, 0.6),
        std=(0.2, 0.25, 0.3),
        image_size=image_size,
        head_hidden=head_hidden,
    )
    config.scratch = dict(TINY_SCRATCH)
    model = create_model(config, pretrained=False)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    calibration = Calibration(
        temperature=1.7,
        threshold=0.3,
        score="max_softmax",
        details={"thresholds": {"max_softmax": 0.3, "knn": 0.5}},
    )
    ckpt = Checkpoint(
        model=config,
        state_dict={k: v.clone() for k, v in model.state_dict().items()},
        classes=list(TINY_CLASSES),
        landmarks=catalog_for(TINY_CLASSES, path.parent),
        calibration=calibration,
    )
    return save_checkpoint(ckpt, path)
