"""Frozen transfer: backbone features are computed once (several augmented views per photo) and cached,
then only the head trains, over feature vectors: seconds to minutes on a CPU (`engine/features.py`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from landmarks.data.prepare import PreparedDataset
from landmarks.engine.config import TrainConfig
from landmarks.engine.features import FeatureExtractor
from landmarks.engine.fit_images import Fitted
from landmarks.engine.history import EpochStats, echo, report_epoch, write_history
from landmarks.engine.loop import nll_and_accuracy, train_one_epoch
from landmarks.engine.losses import NEGATIVE, OutlierExposureLoss, SmoothedNLLLoss
from landmarks.engine.resume import cpu_state
from landmarks.engine.runtime import Runtime
from landmarks.engine.schedule import WarmupCosine, warmup_cosine
from landmarks.models.classifier import LandmarkClassifier

HEAD_BATCH = 128


def fit_frozen(
    model: LandmarkClassifier,
    prepared: PreparedDataset,
    val_select: Sequence[int],
    config: TrainConfig,
    runtime: Runtime,
    generator: torch.Generator,
    started: float,
    negatives: Sequence[Path] = (),
) -> Fitted:
    """Cache backbone features of several augmented views, then train the head alone on them.

    The best epoch is chosen on the val photos at positions `val_select`. `negatives` (photos of no
    landmark) join the batches with the label NEGATIVE when `config.outlier_weight` > 0.
    """
    assert config.epochs is not None and config.lr is not None
    extractor = FeatureExtractor(model, prepared, runtime, progress=config.progress)
    deadline = None
    if config.time_budget_min:  # leave a fifth of the budget for the head, calibration and the test split
        deadline = started + 0.8 * 60 * config.time_budget_min
    # Extraction seeds torch's global RNG for each view it computes, and skips cached views: forked, so the
    # head trains with the same dropout masks whether or not the features were in the cache already.
    with torch.random.fork_rng(devices=[]):
        train_x = extractor.train_views(config.feature_views, seed=config.seed, deadline=deadline)  # [N, V, F]
        val_x = extractor.eval_view("val")[list(val_select)]
        outlier = config.outlier_weight > 0 and len(negatives) > 0
        neg_x = extractor.views_of_paths(list(negatives), train_x.shape[1], seed=config.seed) if outlier else None
    stats = {
        "feature_views": int(train_x.shape[1]),
        "feature_images": extractor.images_computed,
        "feature_seconds": round(extractor.seconds, 1),
        "feature_images_per_s": extractor.images_computed / max(extractor.seconds, 1e-9),
    }
    if train_x.shape[1] < config.feature_views:
        echo(f"time budget: {train_x.shape[1]} of {config.feature_views} feature views computed", config.progress)
    train_y = torch.tensor([s.label for s in prepared.train])
    if neg_x is not None:  # negatives are rows like the others, labelled NEGATIVE (never a class)
        train_x = torch.cat([train_x, neg_x])
        train_y = torch.cat([train_y, torch.full((len(neg_x),), NEGATIVE)])
        stats["outlier_exposure_photos"] = len(neg_x)
    val_y = torch.tensor([prepared.val[i].label for i in val_select])
    head = model.head
    steps_per_epoch = math.ceil(len(train_y) / HEAD_BATCH)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = WarmupCosine(config.epochs * steps_per_epoch, int(config.warmup_epochs * steps_per_epoch))
    scheduler = warmup_cosine(optimizer, schedule)
    loss_fn = OutlierExposureLoss(SmoothedNLLLoss(config.label_smoothing), config.outlier_weight)
    history: list[EpochStats] = []
    best_acc, best_state = -1.0, cpu_state(model)
    views = train_x.shape[1]
    cpu = Runtime(torch.device("cpu"), None, False)
    for epoch in range(1, config.epochs + 1):
        t_epoch = time.perf_counter()
        # Each epoch sees one randomly chosen augmented view of every photo.
        pick = torch.randint(views, (len(train_y),), generator=generator)
        feats = train_x[torch.arange(len(train_y)), pick].float()
        loader = DataLoader(TensorDataset(feats, train_y), batch_size=HEAD_BATCH, shuffle=True, generator=generator)
        loss, acc, ips = train_one_epoch(head, loader, optimizer, scheduler, loss_fn, cpu, epoch=epoch, progress=False)
        head.eval()
        with torch.no_grad():
            val_lp = head(val_x.float())
        val_loss, val_acc = nll_and_accuracy(val_lp, val_y)
        epoch_stats = EpochStats(
            epoch, loss, acc, val_loss, val_acc, optimizer.param_groups[0]["lr"], time.perf_counter() - t_epoch, ips
        )
        history.append(epoch_stats)
        if val_acc > best_acc:
            best_acc, best_state = val_acc, cpu_state(model)
        if config.progress and (epoch % 10 == 0 or epoch == config.epochs):
            report_epoch(epoch_stats, config.progress, False)
    write_history(history, Path(config.out))
    return Fitted(history, best_state, stats)
