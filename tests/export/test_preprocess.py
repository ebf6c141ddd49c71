"""The numpy/Pillow preprocessing against training's EvalPreset: same geometry, values within one grey level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landmarks.data.images import load_rgb
from landmarks.data.transforms import EvalPreset
from landmarks.runtime_onnx.metadata import Preprocessing
from landmarks.runtime_onnx.preprocess import crop_box, preprocess, preprocess_batch, resized_size

LITE0 = Preprocessing.for_model(224, 0.875, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
LITE2 = Preprocessing.for_model(260, 0.890, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _torch(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    preset = EvalPreset(pre.image_size, pre.mean, pre.std, crop_pct=pre.crop_pct)
    assert preset.resize_size == pre.resize_size
    return preset(image).numpy()


def _grey_level(pre: Preprocessing) -> float:
    """One uint8 step after normalisation: the most the two resamplers may differ by."""
    return 1 / 255 / min(pre.std) + 1e-5


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _compare(image: Image.Image, pre: Preprocessing) -> tuple[float, float]:
    ours, theirs = preprocess(image, pre), _torch(image, pre)
    assert ours.shape == theirs.shape == (3, pre.image_size, pre.image_size)
    assert ours.dtype == np.float32
    diff = np.abs(ours - theirs)
    return float(diff.max()), float((diff > 1e-5).mean())


@pytest.mark.parametrize("pre", [LITE0, LITE2], ids=["lite0", "lite2"])
@pytest.mark.parametrize(
    "size",
    [(20, 17), (40, 33), (1000, 40), (40, 1000), (257, 256), (256, 257), (255, 256), (299, 298), (640, 480)],
    ids=["tiny", "small", "very-wide", "very-tall", "1px-wider", "1px-taller", "1px-narrower", "near-square", "vga"],
)
def test_odd_sizes_match_the_eval_preset_within_one_grey_level(size: tuple[int, int], pre: Preprocessing) -> None:
    worst, share = _compare(_noise(*size), pre)  # noise: the hardest case for two resamplers to agree on
    assert worst <= _grey_level(pre)
    assert share < 0.05


@pytest.mark.parametrize("width", [256, 257, 258, 301, 480])
def test_the_crop_alone_is_exact_including_its_rounding(width: int) -> None:
    """Shorter side already the resize size: no resampling, so the tensors must be identical.

    Width 257 and 301 put the crop offset on a half pixel (16.5, 38.5): torchvision rounds half to even.
    """
    for image in (_noise(width, LITE0.resize_size), _noise(LITE0.resize_size, width)):
        worst, _ = _compare(image, LITE0)
        assert worst < 1e-6


def test_geometry_helpers_follow_torchvision() -> None:
    assert resized_size(1000, 40, 256) == (6400, 256)
    assert resized_size(300, 299, 256) == (256, 256)  # 256 * 300 / 299 = 256.86: truncated, not rounded
    assert resized_size(299, 300, 256) == (256, 256)
    assert crop_box(257, 256, 224) == (16, 16, 240, 240)  # (257 - 224) / 2 = 16.5 -> 16
    assert crop_box(259, 256, 224) == (18, 16, 242, 240)  # 17.5 -> 18


def test_non_rgb_images_are_converted_first() -> None:
    grey = _noise(300, 280).convert("L")
    assert np.allclose(preprocess(grey, LITE0), preprocess(grey.convert("RGB"), LITE0))


def test_batches_stack_single_photos() -> None:
    images = [_noise(300, 280, seed=1), _noise(200, 500, seed=2)]
    batch = preprocess_batch(images, LITE2)
    assert batch.shape == (2, 3, 260, 260) and batch.dtype == np.float32
    assert np.array_equal(batch[1], preprocess(images[1], LITE2))


@pytest.mark.integration
@pytest.mark.parametrize("pre", [LITE0, LITE2], ids=["lite0", "lite2"])
def test_real_photos_match_the_eval_preset(proxy44: Path, pre: Preprocessing) -> None:
    """Real photos decoded as the predictor decodes them (JPEG draft to the resize size), both pipelines."""
    photos = sorted((proxy44 / "test").glob("*/*.jpg"))[::37]
    assert len(photos) >= 25
    shares = []
    for photo in photos:
        worst, share = _compare(load_rgb(photo, min_side=pre.resize_size), pre)
        assert worst <= _grey_level(pre), photo
        shares.append(share)
    assert float(np.mean(shares)) < 0.01  # measured: ~0.1 % of values differ, each by one grey level
