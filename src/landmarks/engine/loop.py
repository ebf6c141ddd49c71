"""The loop, torchvision-references style: `train_one_epoch` and `evaluate`, shared by every kind of run."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from landmarks.engine.losses import MixUpCutMix
from landmarks.engine.runtime import Runtime
from landmarks.models.classifier import LandmarkClassifier


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: nn.Module,
    runtime: Runtime,
    *,
    epoch: int,
    mix: MixUpCutMix | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    total: int | None = None,
) -> tuple[float, float, float]:
    """One pass over `loader`; returns (mean loss, accuracy, images/s). `mix` draws from `generator`."""
    model.train()
    loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    bar = tqdm(loader, total=total, desc=f"epoch {epoch:3d} train", leave=False, disable=not progress)
    for x, y in bar:
        x, y = runtime.to_input(x), y.to(runtime.device)
        target: torch.Tensor = y
        if mix is not None:
            x, target = mix(x, y, generator)
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
