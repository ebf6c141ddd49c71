"""Train and eval presets (torchvision.transforms.v2), from uint8 tensors or PIL images to normalised floats.

The store hands out uint8 CHW tensors; the predictor hands in PIL images. Both go through the same
preset, so training and inference see identical geometry and normalisation. Geometry runs first,
on uint8, so every later step works on the small crop rather than the whole photo.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torchvision.transforms import v2

ImageInput = torch.Tensor | Image.Image


def _check_stats(mean: Sequence[float], std: Sequence[float]) -> tuple[list[float], list[float]]:
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std need one value per RGB channel, got {mean!r} and {std!r}")
    if any(s <= 0 for s in std):
        raise ValueError(f"std must be positive, got {std!r}")
    return [float(m) for m in mean], [float(s) for s in std]


class _Preset:
    """A v2 pipeline that accepts a uint8 CHW tensor or a PIL image and returns a plain float tensor."""

    transform: v2.Compose

    def __call__(self, image: ImageInput) -> torch.Tensor:
        return self.transform(image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transform})"


class TrainPreset(_Preset):
    """Random resized crop, flip, colour jitter (optionally TrivialAugment and random erasing).

    `scale` keeps at least 35% of the photo by default: landmark photos often show the landmark
    small, and a tighter crop would train on sky and crowds.
    """

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        scale: tuple[float, float] = (0.35, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: float = 0.5,
        color_jitter: float = 0.2,
        hue: float = 0.0,
        trivial_augment: bool = False,
        random_erasing: float = 0.0,
    ) -> None:
        mean_list, std_list = _check_stats(mean, std)
        self.size = size
        steps: list[torch.nn.Module] = [
            v2.ToImage(),
            v2.RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True),
        ]
        if hflip > 0:
            steps.append(v2.RandomHorizontalFlip(hflip))
        if trivial_augment:
            steps.append(v2.TrivialAugmentWide())  # on uint8: posterize and equalize need it
        steps.append(v2.ToDtype(torch.float32, scale=True))
        if color_jitter > 0 or hue > 0:  # on floats: ~30% faster than on uint8 (no round trips)
            steps.append(
                v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter, hue=hue)
            )
        steps.append(v2.Normalize(mean_list, std_list))
        if random_erasing > 0:
            steps.append(v2.RandomErasing(random_erasing, value=0))
        steps.append(v2.ToPureTensor())
        self.transform = v2.Compose(steps)


class EvalPreset(_Preset):
    """Resize the shorter side to round(size / crop_pct), then centre-crop `size` (timm's convention)."""

    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        crop_pct: float = 0.875,
        resize_size: int | None = None,
    ) -> None:
        if not 0 < crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
        mean_list, std_list = _check_stats(mean, std)
        self.size = size
        self.resize_size = resize_size if resize_size is not None else round(size / crop_pct)
        if self.resize_size < size:
            raise ValueError(f"resize_size {self.resize_size} is smaller than the crop {size}")
        self.transform = v2.Compose(
            [
                v2.ToImage(),
                v2.Resize(self.resize_size, antialias=True),
                v2.CenterCrop(size),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean_list, std_list),
                v2.ToPureTensor(),
            ]
        )
