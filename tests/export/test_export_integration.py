"""The default composite backbone (Lite0+Lite2, pretrained) exported and run on real proxy44 photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.catalog import catalog_for
from landmarks.data.images import load_rgb
from landmarks.data.transforms import EvalPreset
from landmarks.engine.checkpoint import Calibration, Checkpoint, save_checkpoint
from landmarks.export.onnx_export import export_onnx
from landmarks.models.classifier import ModelConfig, create_model
from landmarks.runtime_onnx.model import OnnxModel
from landmarks.runtime_onnx.preprocess import preprocess_batch

pytestmark = pytest.mark.integration

BACKBONE = "efficientnet_lite0+efficientnet_lite2"


@pytest.fixture(scope="module")
def composite(proxy44: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A checkpoint of the pretrained default backbones with a freshly initialised head, and its export."""
    classes = sorted(p.name for p in (proxy44 / "train").iterdir() if p.is_dir())
    torch.manual_seed(0)
    config = ModelConfig.for_transfer(BACKBONE, len(classes), head_hidden=1024)
    model = create_model(config, pretrained=True).eval()
    ckpt = Checkpoint(
        model=config,
        state_dict=model.state_dict(),
        classes=classes,
        landmarks=catalog_for(classes, proxy44),
        calibration=Calibration(temperature=1.3, threshold=0.2),
    )
    checkpoint = save_checkpoint(ckpt, tmp_path_factory.mktemp("composite") / "best.pt")
    return checkpoint, export_onnx(checkpoint)


def _photos(proxy44: Path) -> list[Path]:
    photos = sorted((proxy44 / "test").glob("*/*.jpg"))[::55]
    assert len(photos) >= 20
    return photos[:20]


def test_the_composite_export_matches_torch_on_real_photos(composite: tuple[Path, Path], proxy44: Path) -> None:
    checkpoint, exported = composite
    from landmarks.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model()
    onnx_model = OnnxModel(exported)
    pre = onnx_model.metadata.preprocessing
    assert (pre.image_size, pre.resize_size) == (260, 292)
    cfg = ckpt.model
    preset = EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)
    images = [load_rgb(p, min_side=pre.resize_size) for p in _photos(proxy44)]
    torch_batch = torch.stack([preset(image) for image in images])
    with torch.inference_mode():
        expected = torch.log_softmax(model(torch_batch) / ckpt.calibration.temperature, dim=1).numpy()

    same_input = onnx_model.run(torch_batch.numpy())["log_probs"]
    assert np.abs(same_input - expected).max() < 1e-5  # the graph alone (measured: 4.8e-7)

    end_to_end = onnx_model.run(preprocess_batch(images, pre))
    assert end_to_end["features"].shape == (20, model.num_features)
    # Plus the resamplers' one grey level (measured: 2.0e-4; a fresh head answers close to uniform, so
    # the trained-model figure is in benchmarks/onnx_parity.py).
    assert np.abs(end_to_end["log_probs"] - expected).max() < 2e-3
    assert (end_to_end["log_probs"].argmax(1) == expected.argmax(1)).mean() >= 0.95
