"""Every knob of a training run, in one dataclass stored in each checkpoint (`train_config`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from landmarks.retrieval.decision import DecisionScore, EvidenceProbability

Mode = Literal["frozen", "finetune"]


@dataclass
class TrainConfig:
    """Every knob of a run; the defaults are the best recipes measured (README results table)."""

    data: Path
    out: Path
    model: Literal["scratch", "transfer"] = "transfer"
    backbone: str = "efficientnet_lite0+efficientnet_lite2"
    """Frozen features of both Lite0 and Lite2, side by side: 93.1 % on proxy44 test (README)."""
    mode: Mode = "frozen"
    image_size: int | None = None
    """Scratch default 128; transfer default: the backbone's own input size."""
    epochs: int | None = None
    """Default: scratch 70, fine-tuning 12, frozen head 80."""
    batch_size: int = 32
    lr: float | None = None
    """Peak learning rate (head / scratch). Default: scratch 2e-3, fine-tuning 1e-3, frozen head 2e-3."""
    backbone_lr_scale: float = 0.1
    """Fine-tuning: the backbone learns at lr x this."""
    unfreeze_after: int = 1
    """Fine-tuning: epochs that train only the head before the backbone is unfrozen (gradual unfreezing)."""
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    mixup: float = 0.0
    """MixUp/CutMix Beta alpha for image runs; 0 turns it off."""
    patience: int = 15
    """Early stopping: epochs without a better val accuracy."""
    seed: int = 0
    val_fraction: float = 0.2
    time_budget_min: float | None = None
    resume: bool = False
    weights: Path | None = None
    """Backbone weights file (when not found offline)."""
    workers: int = 0
    threads: int | None = None
    amp: bool = True
    device: str | None = None
    head_hidden: int | None = None
    """0: a linear head; >0: an MLP head with one hidden layer this wide. Default: 1024 for frozen
    transfer (the head is all that trains), 0 otherwise."""
    feature_views: int = 10
    """Frozen mode: augmented views per training photo (view 0 is the plain eval crop)."""
    negatives: list[Path] = field(default_factory=list)
    """Folders of photos that show none of the classes (an everyday photo library). They never become
    a class: the decision is fitted on them (and, with `outlier_weight`, the head learns from them)."""
    negatives_source: str = ""
    """Where `negatives` came from (the CLI resolves --negatives, LANDMARKS_NEGATIVES, data/negatives or
    the downloaded gallery); recorded in the checkpoint."""
    outlier_weight: float = 0.0
    """Frozen mode: weight of outlier exposure on a part of the negatives (0: all of them fit the decision)."""
    decision_score: DecisionScore = "fused"
    """The unknown decision's score: `fused` (calibrated top probability + kNN similarity to the training
    photos), `max_softmax` or `knn`; all three are fitted and stored (engine/calibration.py)."""
    knn_k: int = 1
    """The kNN similarity is to the k-th nearest training photo."""
    evidence_probability: EvidenceProbability = "classifier"
    """The top probability the fused score reads: the classifier's own, of the answer shown ("classifier"), or
    the answer's after the kNN vote ("answer"); chosen on val and the fitting negatives (README)."""
    landmark_gate: bool = True
    """With negatives: gate the fused score by a probe of "a landmark photo at all?" (engine/landmark_probe.py)."""
    vote_weight: float = 0.4
    """The probabilities shown mix the classifier's with the nearest training photos' vote by this weight
    (chosen on val; README)."""
    target_precision: float = 0.99
    """The threshold is the lowest at which this share of the answers given on the calibration photos and
    negatives are right, i.e. of the locations that geotag would write."""
    calibration_fraction: float = 0.5
    """Share of val (seeded, per class) held out to fit temperature and threshold; the rest picks the
    best epoch. 0: both on all of val (the selection then biases the calibration)."""
    cache: Path | None = None
    progress: bool = True
    scratch: dict[str, Any] = field(default_factory=dict)
    """Overrides of ScratchConfig fields (widths, blocks, dropout, drop_path)."""

    def resolved(self) -> TrainConfig:
        """Fill the model-dependent defaults, so the run's record says what was actually used."""
        c = TrainConfig(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        image = c.model == "scratch"
        if c.image_size is None and image:
            c.image_size = 128
        if c.epochs is None:
            c.epochs = 70 if image else (12 if c.mode == "finetune" else 80)
        if c.head_hidden is None:
            c.head_hidden = 1024 if c.model == "transfer" and c.mode == "frozen" else 0
        if c.lr is None:
            c.lr = 2e-3 if image or c.mode == "frozen" else 1e-3
        return c

    def to_dict(self) -> dict[str, Any]:
        """Plain data (paths as strings): checkpoints load with `weights_only=True`."""

        def plain(v: Any) -> Any:
            return str(v) if isinstance(v, Path) else [plain(x) for x in v] if isinstance(v, list) else v

        return {k: plain(v) for k, v in asdict(self).items()}
