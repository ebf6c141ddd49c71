"""The last step of `fit`: the retrieval index of the training photos, temperature and the decision.

Fitted on the calibration half of val and the run's held-out negatives (photos of no landmark). Frozen
runs read every feature from the cache they trained on; other runs predict the photos once.
"""

from __future__ import annotations

from pathlib import Path

import torch

from landmarks.data.prepare import PreparedDataset, Sample
from landmarks.engine.calibration import ValSplit, calibrate
from landmarks.engine.checkpoint import Calibration
from landmarks.engine.config import TrainConfig
from landmarks.engine.evaluation import SplitPredictions, predict_split
from landmarks.engine.features import FeatureExtractor
from landmarks.engine.loop import nll_and_accuracy
from landmarks.engine.losses import NEGATIVE
from landmarks.engine.negatives import NegativeSplit
from landmarks.engine.runtime import Runtime
from landmarks.models.classifier import LandmarkClassifier
from landmarks.retrieval.index import EmbeddingIndex


def calibrate_run(
    model: LandmarkClassifier,
    prepared: PreparedDataset,
    val_split: ValSplit,
    negatives: NegativeSplit,
    config: TrainConfig,
    runtime: Runtime,
) -> tuple[Calibration, EmbeddingIndex, float]:
    """The calibration fitted on the calibration part of val and the held-out negatives, the retrieval
    index of the training photos, and the top-1 on all of val."""
    val, train_feats, neg = _outputs(model, prepared, negatives, config, runtime)
    index = EmbeddingIndex.build(
        model.embed(train_feats).numpy(),
        [s.label for s in prepared.train],
        [relative(s.path, prepared.root) for s in prepared.train],
        embedding="backbone features",
    )
    cal = val_split.calibrate
    calibration = calibrate(
        val.log_probs[cal],
        val.targets[cal],
        model.embed(val.features[cal]).numpy(),
        neg.log_probs,
        model.embed(neg.features).numpy(),
        index,
        score=config.decision_score,
        target_precision=config.target_precision,
        knn_k=config.knn_k,
        vote_weight=config.vote_weight,
        evidence_probability=config.evidence_probability,
        negative_groups=[p.group for p in negatives.calibrate],
        landmark_gate=config.landmark_gate,
        seed=config.seed,
        details={
            "fitted_on": "val-calibration" if val_split.fraction > 0 else "val (the photos that chose the epoch)",
            "calibration_fraction": val_split.fraction,
            "calibration_seed": val_split.seed,
            "n_val": len(val.targets),
            "n_selection": len(val_split.select),
            "calibration_photos": [relative(val.paths[i], prepared.root) for i in cal],
            "negatives": negatives.record(),
        },
    )
    _, val_acc = nll_and_accuracy(val.log_probs, val.targets)
    return calibration, index, val_acc


@torch.no_grad()
def _outputs(
    model: LandmarkClassifier,
    prepared: PreparedDataset,
    negatives: NegativeSplit,
    config: TrainConfig,
    runtime: Runtime,
) -> tuple[SplitPredictions, torch.Tensor, SplitPredictions]:
    """Val predictions, train features and calibration-negative predictions (with backbone features).

    Frozen runs read the features cached during training; other runs predict the photos."""
    negative_samples = [Sample(p, NEGATIVE) for p in negatives.calibrate_paths]
    if config.model == "transfer" and config.mode == "frozen":
        extractor = FeatureExtractor(model, prepared, runtime, progress=config.progress)
        model.head.eval()

        def cached(samples: list[Sample], features: torch.Tensor) -> SplitPredictions:
            if len(samples) == 0:
                empty = torch.zeros(0, len(prepared.classes))
                return SplitPredictions(empty, torch.zeros(0, dtype=torch.long), [], features)
            log_probs = model.head(features.to(runtime.device)).float().cpu()
            targets = torch.tensor([s.label for s in samples], dtype=torch.long)
            return SplitPredictions(log_probs, targets, [s.path for s in samples], features)

        val = cached(prepared.val, extractor.eval_view("val"))
        neg = cached(negative_samples, extractor.of_paths([s.path for s in negative_samples]).float())
        return val, extractor.eval_view("train"), neg
    val = predict_split(model, prepared, "val", runtime, progress=config.progress)
    train = predict_split(model, prepared, "train", runtime, progress=config.progress)
    if negative_samples:
        neg = predict_split(model, prepared, "val", runtime, progress=config.progress, samples=negative_samples)
    else:
        width = train.features.shape[1] if train.features is not None else 0
        neg = SplitPredictions(
            torch.zeros(0, len(prepared.classes)), torch.zeros(0, dtype=torch.long), [], torch.zeros(0, width)
        )
    assert val.features is not None and train.features is not None and neg.features is not None
    return val, train.features, neg


def relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)
