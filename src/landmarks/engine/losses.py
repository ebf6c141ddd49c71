"""NLLLoss on LogSoftmax outputs, as the mission prescribes; label smoothing on top; MixUp/CutMix batches."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms import v2


class SmoothedNLLLoss(nn.Module):
    """(1 - eps) * NLL(log_probs, target) + eps * mean over classes of -log_probs.

    With eps = 0 this is exactly `nn.NLLLoss`. Soft targets (mixup/cutmix) are accepted as [N, C] rows.
    """

    def __init__(self, smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError("label smoothing must be in [0, 1)")
        self.smoothing = smoothing
        self.nll = nn.NLLLoss()

    def forward(self, log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = log_probs.float()
        if target.dim() == 2:  # soft targets
            return -(target * log_probs).sum(dim=1).mean()
        loss = self.nll(log_probs, target)
        if self.smoothing:
            loss = (1 - self.smoothing) * loss - self.smoothing * log_probs.mean(dim=1).mean()
        return loss


class MixUpCutMix:
    """torchvision's CutMix or MixUp (one of the two, at random, per batch), drawn from a seeded generator.

    torchvision's transforms draw from torch's global RNG; here each batch draws its own seed from
    `generator` and runs the transform under a forked RNG, so a seeded run mixes the same way every
    time, whatever else consumed the global RNG.
    """

    def __init__(self, alpha: float, num_classes: int) -> None:
        self.transform = v2.RandomChoice(
            [v2.MixUp(alpha=alpha, num_classes=num_classes), v2.CutMix(alpha=alpha, num_classes=num_classes)]
        )

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images and their soft targets [N, C]."""
        seed = int(torch.randint(2**62, (), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mixed, target = self.transform(x, y)
        return mixed, target


NEGATIVE = -1
"""The label of a photo that shows none of the classes (a negative): it never becomes a class."""


class OutlierExposureLoss(nn.Module):
    """`base` on the labelled rows + `weight` x cross-entropy to the uniform distribution on the negatives.

    Outlier exposure (Hendrycks et al., 2019): photos of no landmark of ours are pushed towards "equally
    unlikely to be any of them", so a dock or a menu stops coming back as Hagia Sophia at 0.95. Rows
    labelled `NEGATIVE` are the negatives; a batch may hold either kind, or both.
    """

    def __init__(self, base: nn.Module, weight: float) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError("the outlier-exposure weight cannot be negative")
        self.base = base
        self.weight = weight

    def forward(self, log_probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        negative = target == NEGATIVE
        loss = log_probs.new_zeros((), dtype=torch.float32)
        if (~negative).any():
            loss = loss + self.base(log_probs[~negative], target[~negative])
        if negative.any() and self.weight:
            loss = loss - self.weight * log_probs[negative].float().mean(dim=1).mean()
        return loss
