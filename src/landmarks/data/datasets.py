"""torch Datasets over prepared samples, and the DataLoader settings training uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset

from landmarks.data.cache import DecodedImageStore
from landmarks.data.images import load_rgb

if TYPE_CHECKING:
    from PIL import Image

    from landmarks.data.prepare import Sample

DEFAULT_BATCH_SIZE = 32


class CachedImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Samples read from the decoded-image store: no JPEG decoding after the first time."""

    def __init__(
        self,
        samples: Sequence[Sample],
        store: DecodedImageStore,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.samples = list(samples)
        self.store = store
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        image = self.store.load(sample.path)
        return (self.transform(image) if self.transform else image), sample.label

    @property
    def labels(self) -> list[int]:
        """Every sample's label, in order (class weights, stratified metrics)."""
        return [s.label for s in self.samples]


class FileImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Samples decoded from their files on every access: the slow baseline the cache is measured against.

    `min_side` enables JPEG draft decoding (see `load_rgb`).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Callable[[Image.Image], torch.Tensor] | None = None,
        *,
        min_side: int | None = None,
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | Image.Image, int]:
        sample = self.samples[index]
        image = load_rgb(sample.path, min_side=self.min_side)
        return (self.transform(image) if self.transform else image), sample.label


def make_loader(
    dataset: Dataset[tuple[torch.Tensor, int]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shuffle: bool = False,
    num_workers: int = 0,
    drop_last: bool = False,
    seed: int | None = None,
    pin_memory: bool = False,
) -> DataLoader[tuple[torch.Tensor, int]]:
    """A DataLoader with our defaults: batch 32, in-process loading (the cache makes workers unnecessary
    on 2 cores), persistent workers when there are any, and a seeded shuffle when `seed` is given."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
    )
