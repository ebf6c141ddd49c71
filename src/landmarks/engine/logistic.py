"""Weighted logistic regression by L-BFGS: the small fits of the decision (fused score, landmark probe, gate).

torch rather than scikit-learn: it is already a training dependency, and the weights come back as plain
floats that a checkpoint and an ONNX export store as they are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, weight: np.ndarray | None = None, l2: float = 1e-3, max_iter: int = 100
) -> list[float]:
    """Weights w of P(y=1 | x) = sigmoid(x @ w), by L-BFGS on the (weighted) mean log-loss, plus a small L2
    on all but the last column (the bias)."""
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    if float(yt.sum()) in (0.0, float(len(yt))):
        raise ValueError("the decision needs both right and wrong answers to learn from")
    wt = torch.ones_like(yt) if weight is None else torch.as_tensor(weight, dtype=torch.float64)
    wt = wt / wt.sum()
    w = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (wt * F.binary_cross_entropy_with_logits(xt @ w, yt, reduction="none")).sum()
        loss = loss + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return [float(v) for v in w.detach()]


def balanced(y: np.ndarray) -> np.ndarray:
    """Per-row weights under which both classes of a 0/1 target weigh the same in total."""
    y = np.asarray(y, dtype=bool)
    return np.where(y, 0.5 / max(1, y.sum()), 0.5 / max(1, (~y).sum()))
