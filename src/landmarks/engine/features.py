"""Frozen-backbone features, computed once per (backbone, photo set, view) and cached on disk.

Training only the head over cached features turns transfer learning on a CPU from hours into minutes.
Augmentation survives: each training photo gets several randomly augmented views (view 0 is the plain
eval crop), and the head sees a different view of each photo every epoch.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from landmarks.engine.loaders import decoded_size
from landmarks.engine.runtime import Runtime
from landmarks.models.classifier import LandmarkClassifier


class FeatureExtractor:
    """Pooled backbone features for the splits of a prepared dataset."""

    def __init__(
        self,
        model: LandmarkClassifier,
        prepared: Any,
        runtime: Runtime,
        *,
        batch_size: int = 64,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.prepared = prepared
        self.runtime = runtime
        self.batch_size = batch_size
        self.progress = progress
        cfg = model.config
        self.store = prepared.store(size=decoded_size(cfg.image_size, cfg.crop_pct))
        self.folder = Path(prepared.cache_dir) / "features"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.backbone = runtime.prepare(model.backbone).eval()
        self.images_computed = 0
        self.seconds = 0.0
        """Photos run through the backbone (cache misses) and the time it took: the run's throughput."""

    def _key(self, split: str, view: str) -> Path:
        cfg = self.model.config
        samples = getattr(self.prepared, split)
        listing = "\n".join(f"{s.path}\t{s.label}" for s in samples)
        weights = hashlib.sha256()
        for name, tensor in sorted(self.model.backbone.state_dict().items())[:4]:  # cheap identity of the weights
            weights.update(name.encode())
            weights.update(tensor.float().flatten()[:64].numpy().tobytes())
        key = json.dumps(
            [
                cfg.backbone,
                cfg.image_size,
                cfg.crop_pct,
                cfg.mean,
                cfg.std,
                view,
                weights.hexdigest(),
                listing,
            ]
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return self.folder / f"{cfg.backbone}-{cfg.image_size}-{split}-{view}-{digest}.pt"

    @torch.no_grad()
    def _extract(self, split: str, transform: Any, desc: str) -> torch.Tensor:
        from landmarks.data.datasets import CachedImageDataset

        samples = getattr(self.prepared, split)
        loader = DataLoader(CachedImageDataset(samples, self.store, transform), batch_size=self.batch_size)
        feats = []
        started = time.perf_counter()
        for x, _ in tqdm(loader, desc=desc, leave=False, disable=not self.progress):
            with self.runtime.autocast():
                feats.append(self.backbone(self.runtime.to_input(x)).float().cpu())
        self.seconds += time.perf_counter() - started
        self.images_computed += len(samples)
        return torch.cat(feats) if feats else torch.zeros(0, self.model.num_features)

    def _cached(self, split: str, view: str, make: Any) -> torch.Tensor:
        path = self._key(split, view)
        if path.is_file():
            try:
                return torch.load(path, weights_only=True)
            except (RuntimeError, EOFError, OSError):
                path.unlink(missing_ok=True)  # a damaged cache file is recomputed
        feats = make()
        tmp = path.with_suffix(".tmp")
        torch.save(feats, tmp)
        tmp.replace(path)
        return feats

    def eval_view(self, split: str) -> torch.Tensor:
        """[N, F] features of the eval crop (resize + centre crop)."""
        from landmarks.data.transforms import EvalPreset

        cfg = self.model.config
        transform = EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)
        return self._cached(split, "eval", lambda: self._extract(split, transform, f"features {split}"))

    def train_views(self, views: int, seed: int = 0, deadline: float | None = None) -> torch.Tensor:
        """[N, views, F] (fp16): view 0 is the eval crop, the others seeded random augmentations.

        With a `deadline` (a `time.monotonic()` value), fewer views are computed when the next one would
        not finish in time; cached views cost nothing and are always used.
        """
        from landmarks.data.transforms import TrainPreset

        cfg = self.model.config
        self.store.warm([s.path for s in self.prepared.train], progress=self.progress)
        out = [self.eval_view("train").half()]
        slowest = 0.0
        for v in range(1, views):
            cached = self._key("train", f"aug{v}-s{seed}").is_file()
            if deadline is not None and not cached and time.monotonic() + slowest > deadline:
                break
            started = time.monotonic()
            transform = TrainPreset(cfg.image_size, cfg.mean, cfg.std)

            def make(v: int = v, transform: Any = transform) -> torch.Tensor:
                torch.manual_seed(seed * 1000 + v)  # v2 transforms draw from torch's global RNG
                return self._extract("train", transform, f"features train view {v}/{views - 1}").half()

            out.append(self._cached("train", f"aug{v}-s{seed}", make))
            slowest = max(slowest, time.monotonic() - started)
        return torch.stack(out, dim=1)
