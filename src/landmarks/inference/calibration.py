"""Temperature scaling and the "not one of our landmarks" decision, both fitted on the val split.

Why: a closed-set classifier is confident on anything. Temperature scaling makes the probabilities
honest (low ECE); the threshold is then picked on in-distribution val photos so that a chosen share of
*correct* answers stays above it; anything below is answered as unknown (the top-k is still shown).

Two scores are fitted: the calibrated top probability ("max_softmax") and the cosine similarity of a
photo's backbone features to the nearest class centre ("centroid_cosine", centres from the train
split). `benchmarks/ood_proxy44.py` measures both; measured there, the calibrated softmax is the better
one (AUROC 0.917 vs 0.779), so it is the default and the centroid score stays available by option.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F

UnknownScore = Literal["max_softmax", "centroid_cosine"]
UNKNOWN_SCORES: tuple[UnknownScore, ...] = ("max_softmax", "centroid_cosine")


def fit_temperature(log_probs: torch.Tensor, targets: torch.Tensor, max_iter: int = 200) -> float:
    """The T > 0 minimising NLL of softmax(log_probs / T) (Guo et al., 2017). log-probs or logits both work."""
    log_probs = log_probs.detach().float()
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(log_probs / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return min(max(t, 0.05), 20.0)


def calibrated_probs(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(log_probs.float() / temperature, dim=-1)


def choose_threshold(scores: torch.Tensor, correct: torch.Tensor, keep: float = 0.95) -> float:
    """The score that keeps `keep` of the correct in-distribution answers above it."""
    kept = scores[correct.bool()]
    if kept.numel() == 0:
        return 0.0
    return float(torch.quantile(kept.float(), 1 - keep))


def class_centroids(features: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[C, F] unit vectors: the mean direction of each class's (unit-normalised) features."""
    unit = F.normalize(features.float(), dim=1)
    sums = torch.zeros(num_classes, unit.shape[1]).index_add_(0, targets, unit)
    return F.normalize(sums, dim=1)


def centroid_similarity(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """[N] cosine similarity of each feature vector to its nearest class centre."""
    return (F.normalize(features.float(), dim=1) @ centroids.float().T).max(dim=1).values
