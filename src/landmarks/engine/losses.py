"""NLLLoss on LogSoftmax outputs, as the mission prescribes; label smoothing built on top of it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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


def mixup_cutmix(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, alpha: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix with probability 1/2, else MixUp; returns mixed images and soft targets."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(x.shape[0], generator=generator)
    target = F.one_hot(y, num_classes).float()
    if torch.rand(1, generator=generator).item() < 0.5:
        h, w = x.shape[-2:]
        cut_h, cut_w = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        cy, cx = (
            int(torch.randint(h, (1,), generator=generator)),
            int(torch.randint(w, (1,), generator=generator)),
        )
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = lam * x + (1 - lam) * x[perm]
    return x, lam * target + (1 - lam) * target[perm]
