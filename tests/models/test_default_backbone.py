"""The default backbone, Lite0 and Lite2 side by side: both parts pretrained, features joined in order."""

from __future__ import annotations

import torch

from landmarks.engine.train import TrainConfig
from landmarks.models.backbones import build_backbone
from landmarks.models.classifier import ModelConfig, create_model

DEFAULT = TrainConfig(data=".", out=".").backbone  # type: ignore[arg-type]


def test_the_default_is_lite0_plus_lite2() -> None:
    assert DEFAULT == "efficientnet_lite0+efficientnet_lite2"


def test_forward_pass_joins_both_pretrained_parts_features() -> None:
    joined, spec = build_backbone(DEFAULT)
    lite0, _ = build_backbone("efficientnet_lite0")
    lite2, _ = build_backbone("efficientnet_lite2")
    joined.eval(), lite0.eval(), lite2.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # tiny input: pooled anyway
    with torch.no_grad():
        features = joined(x)
        expected = torch.cat([lite0(x), lite2(x)], dim=1)
    assert lite0.num_features == lite2.num_features == 1280  # EfficientNet-Lite keeps the head at 1280
    assert features.shape == (2, 2560) and joined.num_features == 2560
    torch.testing.assert_close(features, expected)  # Lite0's features first, then Lite2's, both pretrained
    assert spec.input_size == 260 and spec.parts == ("efficientnet_lite0", "efficientnet_lite2")


def test_default_transfer_model_gives_log_probabilities() -> None:
    config = ModelConfig.for_transfer(DEFAULT, 5, image_size=64, head_hidden=1024)
    model = create_model(config).eval()
    assert model.num_features == 2560
    with torch.no_grad():
        log_probs = model(torch.randn(3, 3, 64, 64))
    assert log_probs.shape == (3, 5)
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(3))
