"""Scratch-model training throughput: our loop vs a naive one, same model, batch and transforms, one run.

naive: every step decodes the JPEGs from disk (full size, no draft mode) and trains in fp32.
ours:  decoded photos from the in-memory/on-disk cache, bf16 autocast + channels_last.

    .venv/bin/python benchmarks/scratch_throughput.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from _common import PROXY44


def steps_per_second(
    model: torch.nn.Module,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    n: int,
    bf16: bool,
    optimizer: torch.optim.Optimizer,
) -> float:
    """Images/s over `n` training steps (after 2 warm-up steps), data loading included."""
    from landmarks.engine.losses import SmoothedNLLLoss

    loss_fn = SmoothedNLLLoss(0.1)
    model.train()
    seen, started = 0, 0.0
    for i in range(n + 2):
        if i == 2:
            seen, started = 0, time.perf_counter()
        x, y = next(batches)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += y.shape[0]
    return seen / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=PROXY44)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()

    from torch.utils.data import DataLoader

    from landmarks.data.datasets import CachedImageDataset, FileImageDataset
    from landmarks.data.prepare import prepare_dataset
    from landmarks.data.transforms import TrainPreset
    from landmarks.models.classifier import ModelConfig, create_model

    scratch = tempfile.TemporaryDirectory(prefix="landmarks-bench-")  # never the user's cache
    prepared = prepare_dataset(args.data, progress=False, cache=Path(scratch.name))
    store = prepared.store()
    store.warm([s.path for s in prepared.train], progress=False, preload=True)
    transform = TrainPreset(128, prepared.mean, prepared.std)
    config = ModelConfig.for_scratch(len(prepared.classes), prepared.mean, prepared.std, image_size=128)

    def loader(dataset: torch.utils.data.Dataset) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(0)
        return iter(DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, generator=g))

    results = {}
    for name, dataset, bf16 in (
        ("naive_decode_fp32", FileImageDataset(prepared.train, transform), False),
        ("cached_bf16_channels_last", CachedImageDataset(prepared.train, store, transform), True),
    ):
        torch.manual_seed(0)
        model = create_model(config)
        if bf16:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        results[name] = round(steps_per_second(model, loader(dataset), args.steps, bf16, optimizer), 1)
    results["speedup"] = round(results["cached_bf16_channels_last"] / results["naive_decode_fp32"], 2)
    results |= {"batch_size": args.batch_size, "steps": args.steps, "threads": torch.get_num_threads()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
