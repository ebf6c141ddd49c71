"""The landmark classifier: any feature extractor + a head that ends in LogSoftmax (trained with NLLLoss).

`create_model` is the one factory (timm-style): a `ModelConfig` (stored in every checkpoint) fully
describes the network and its preprocessing, so inference rebuilds exactly what was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from landmarks.models.backbones import build_backbone, get_backbone_spec
from landmarks.models.scratch import ScratchConfig, ScratchNet

Arch = Literal["scratch", "transfer"]


@dataclass
class ModelConfig:
    arch: Arch
    num_classes: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 0.875
    backbone: str | None = None
    """Registry name of the pretrained backbone (transfer only)."""
    dropout: float = 0.2
    head_hidden: int = 0
    """0: a linear head; >0: one hidden layer of this width (BN + GELU) before the classifier."""
    scratch: dict[str, Any] = field(default_factory=dict)
    """ScratchConfig fields (scratch only)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @classmethod
    def for_transfer(cls, backbone: str, num_classes: int, image_size: int | None = None, **kw: Any) -> ModelConfig:
        spec = get_backbone_spec(backbone)
        return cls(
            arch="transfer",
            backbone=backbone,
            num_classes=num_classes,
            image_size=image_size or spec.input_size,
            mean=spec.mean,
            std=spec.std,
            crop_pct=spec.crop_pct,
            **kw,
        )

    @classmethod
    def for_scratch(
        cls,
        num_classes: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        image_size: int = 128,
        scratch: ScratchConfig | None = None,
        **kw: Any,
    ) -> ModelConfig:
        scratch = scratch or ScratchConfig()
        kw.setdefault("dropout", scratch.dropout)
        return cls(
            arch="scratch",
            num_classes=num_classes,
            image_size=image_size,
            mean=mean,
            std=std,
            scratch=scratch.to_dict(),
            **kw,
        )


def make_head(num_features: int, num_classes: int, dropout: float, hidden: int = 0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden:
        layers += [nn.Linear(num_features, hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Dropout(dropout)]
        num_features = hidden
    layers += [nn.Linear(num_features, num_classes), nn.LogSoftmax(dim=1)]
    return nn.Sequential(*layers)


class LandmarkClassifier(nn.Module):
    """backbone (images -> pooled features) + head (features -> log-probabilities)."""

    def __init__(self, backbone: nn.Module, num_features: int, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.num_features = num_features
        self.head = make_head(num_features, config.num_classes, config.dropout, config.head_hidden)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The retrieval embedding of a photo: its pooled backbone features (the index normalises them).

        Measured on val against the head's hidden layer, the backbone's features separate photos of no
        landmark from ours better (README), and they do not depend on the classes the head learned,
        which is what a gallery of new landmarks needs."""
        return features.float()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-LogSoftmax scores (for temperature scaling); log-probs differ from them by a constant."""
        return self.head[:-1](self.backbone(x))


def create_model(config: ModelConfig, *, pretrained: bool = True, weights: Path | None = None) -> LandmarkClassifier:
    """Build a classifier; transfer backbones get their ImageNet weights unless `pretrained=False`.

    `pretrained=False` is what checkpoint loading uses: the checkpoint brings every weight itself.
    """
    if config.arch == "scratch":
        net = ScratchNet(ScratchConfig.from_dict(config.scratch))
        return LandmarkClassifier(net, net.num_features, config)
    if config.arch == "transfer":
        if not config.backbone:
            raise ValueError("a transfer model needs a backbone name")
        backbone, _ = build_backbone(config.backbone, pretrained=pretrained, weights=weights)
        num_features = int(getattr(backbone, "num_features", 0) or _probe_features(backbone))
        return LandmarkClassifier(backbone, num_features, config)
    raise ValueError(f"unknown architecture {config.arch!r} (expected 'scratch' or 'transfer')")


def _probe_features(backbone: nn.Module) -> int:
    backbone.eval()
    with torch.no_grad():
        return int(backbone(torch.zeros(1, 3, 64, 64)).shape[1])
