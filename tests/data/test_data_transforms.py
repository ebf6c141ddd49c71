"""Train and eval presets: shapes, normalisation, determinism, and PIL / tensor inputs alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_factories import synthetic_photo
from PIL import Image

from landmarks.data.transforms import EvalPreset, TrainPreset

MEAN = (0.48, 0.46, 0.41)
STD = (0.27, 0.26, 0.29)


def _as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def test_eval_resizes_by_crop_pct_then_centre_crops() -> None:
    assert EvalPreset(224, MEAN, STD).resize_size == 256  # round(224 / 0.875)
    assert EvalPreset(224, MEAN, STD, crop_pct=1.0).resize_size == 224
    assert EvalPreset(224, MEAN, STD, resize_size=300).resize_size == 300
    with pytest.raises(ValueError, match="crop_pct"):
        EvalPreset(224, MEAN, STD, crop_pct=1.5)


def test_eval_normalises_with_the_given_statistics() -> None:
    colour = (51, 153, 204)
    out = EvalPreset(64, MEAN, STD)(Image.new("RGB", (120, 90), colour))
    assert type(out) is torch.Tensor  # a plain tensor: collates and saves like any other
    assert out.dtype == torch.float32 and out.shape == (3, 64, 64)
    expected = (torch.tensor(colour) / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(out.mean(dim=(1, 2)), expected, atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2)), torch.zeros(3), atol=1e-5)


def test_eval_gives_the_same_result_for_pil_and_uint8_tensor() -> None:
    photo = synthetic_photo(5, 11, (150, 100))
    preset = EvalPreset(96, MEAN, STD)
    assert torch.allclose(preset(photo), preset(_as_tensor(photo)), atol=1e-6)


def test_eval_crop_is_centred() -> None:
    image = torch.zeros(3, 100, 300, dtype=torch.uint8)
    image[:, :, 100:200] = 255  # a bright centre third
    out = EvalPreset(100, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), crop_pct=1.0)(image)
    assert out.shape == (3, 100, 100)
    assert out.min() > 0.99  # the crop is exactly the bright centre


def test_train_is_random_but_reproducible_with_a_seed() -> None:
    image = _as_tensor(synthetic_photo(2, 5, (200, 150)))
    preset = TrainPreset(64, MEAN, STD)
    torch.manual_seed(0)
    first = preset(image)
    torch.manual_seed(0)
    again = preset(image)
    torch.manual_seed(1)
    other = preset(image)
    assert first.shape == (3, 64, 64) and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_train_accepts_pil_and_optional_augmentations() -> None:
    preset = TrainPreset(48, MEAN, STD, trivial_augment=True, random_erasing=1.0, hue=0.05)
    out = preset(synthetic_photo(1, 2, (120, 90)))
    assert out.shape == (3, 48, 48)
    assert torch.isfinite(out).all()
    assert (out == 0).any()  # random erasing (probability 1) blanked a patch to the mean


def test_train_does_not_modify_the_cached_tensor() -> None:
    image = _as_tensor(synthetic_photo(4, 4, (100, 80)))
    before = image.clone()
    TrainPreset(32, MEAN, STD, trivial_augment=True)(image)
    assert torch.equal(image, before)


@pytest.mark.parametrize(("mean", "std"), [((0.5, 0.5), (0.2, 0.2, 0.2)), ((0.5, 0.5, 0.5), (0.2, 0.0, 0.2))])
def test_bad_statistics_are_refused(mean: tuple, std: tuple) -> None:
    with pytest.raises(ValueError):
        TrainPreset(32, mean, std)
    with pytest.raises(ValueError):
        EvalPreset(32, mean, std)
