"""Synthetic photo factories for tests (importable as `helpers`; conftest modules are not importable reliably)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image

TINY_CLASSES = ["00.Haleakala_National_Park", "09.Golden_Gate_Bridge", "16.Eiffel_Tower", "41.Machu_Picchu"]
TINY_SCRATCH = {"widths": [16, 32, 64], "blocks": [1, 1, 1], "stem_width": 16, "dropout": 0.1, "drop_path": 0.0}


def synthetic_photo(label: int, seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A learnable synthetic 'landmark': class-specific colour and stripe orientation, plus noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = label * np.pi / 4
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / 4.0)
    base = np.array([(label * 83) % 255, (label * 151 + 60) % 255, (label * 47 + 120) % 255], np.float32)
    img = base[None, None, :] * 0.6 + 70 * stripes[..., None] + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def make_dataset(
    root: Path,
    classes: list[str],
    train_per_class: int = 10,
    test_per_class: int = 4,
    size: tuple[int, int] = (96, 72),
    fmt: str = "JPEG",
) -> Path:
    """Write a small `train/ test/` folder of real JPEG (or PNG) files."""
    ext = {"JPEG": "jpg", "PNG": "png"}[fmt]
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                seed = zlib.crc32(f"{split}/{label}/{i}".encode())  # stable across processes
                synthetic_photo(label, seed, size).save(folder / f"{name}_{i:03d}.{ext}", fmt)
    return root
