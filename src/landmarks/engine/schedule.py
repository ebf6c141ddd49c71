"""Linear warm-up then cosine decay, as a function of training progress.

The total step count can change after the first epoch (a `--time-budget` run learns how many epochs
fit), so the schedule reads it from a mutable holder instead of baking it into the optimizer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class WarmupCosine:
    total_steps: int
    warmup_steps: int
    min_factor: float = 0.01

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / max(1, self.warmup_steps)
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: torch.optim.Optimizer, schedule: WarmupCosine) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
