"""Training's eval preprocessing (`data.transforms.EvalPreset`) in numpy and Pillow, for the torch-free runtime.

Train/serve skew is a bug, so every step copies torchvision's arithmetic: the resized size is
torchvision's (shorter side = `resize_size`, longer side truncated, not rounded), the resize is an
antialiased bilinear one (Pillow's BILINEAR resize is the convolution that torchvision's uint8 kernel
was ported from; they agree to within one grey level), the centre-crop offsets round half to even as
torchvision's `int(round(...))` does, and normalisation is (x / 255 - mean) / std in float32.
`tests/export/test_preprocess.py` compares the two pipelines on real photos and odd sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from landmarks.runtime_onnx.metadata import Preprocessing


def resized_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to `shorter` (torchvision's `Resize(int)`)."""
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


def crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centred `size` square (torchvision's `CenterCrop` anchor)."""
    top = round((height - size) / 2.0)  # Python's round: half to even, as torchvision's int(round(...))
    left = round((width - size) / 2.0)
    return left, top, left + size, top + size


def preprocess(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    """A float32 [3, image_size, image_size] array, as `EvalPreset` makes from the same RGB image."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    new_size = resized_size(width, height, pre.resize_size)
    if new_size != (width, height):
        image = image.resize(new_size, Image.Resampling.BILINEAR)
    # resize_size >= image_size, so the crop never needs padding.
    pixels = np.asarray(image.crop(crop_box(*new_size, pre.image_size)), dtype=np.float32)
    mean = np.asarray(pre.mean, dtype=np.float32)
    std = np.asarray(pre.std, dtype=np.float32)
    normalised = (pixels * np.float32(1.0 / 255.0) - mean) / std
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def preprocess_batch(images: Sequence[Image.Image], pre: Preprocessing) -> np.ndarray:
    """A float32 [N, 3, image_size, image_size] batch."""
    size = pre.image_size
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        batch[i] = preprocess(image, pre)
    return batch
