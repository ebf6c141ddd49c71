"""Frozen-backbone features, computed once per (backbone weights, photo content, view) and cached on disk.

Training only the head over cached features turns transfer learning on a CPU from hours into minutes.
Augmentation survives: each training photo gets several randomly augmented views (view 0 is the plain
eval crop), and the head sees a different view of each photo every epoch.

The cache is keyed by what determines a feature and nothing else: the SHA-256 of the photo's bytes,
the view, and a fingerprint of every backbone weight plus its preprocessing. So a replaced photo or
a changed backbone never serves stale features, while another split of the same photos (another
seed, a subset of the classes, negatives) reuses every feature already computed. An augmented view
is seeded per photo (from its digest), so a photo gets the same view whichever split it sits in.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from landmarks.atomic import atomic_open
from landmarks.data.cache import DecodedImageStore
from landmarks.data.transforms import EvalPreset, TrainPreset
from landmarks.engine.loaders import decoded_size
from landmarks.engine.runtime import Runtime
from landmarks.models.classifier import LandmarkClassifier

FEATURES_VERSION = 2
"""Bump when the views' recipe changes (transforms, seeding), so older caches are not reused."""

EVAL_VIEW = "eval"


def backbone_fingerprint(model: LandmarkClassifier) -> str:
    """SHA-256 over every backbone tensor and the preprocessing that feeds it."""
    cfg = model.config
    h = hashlib.sha256()
    h.update(json.dumps([FEATURES_VERSION, cfg.backbone, cfg.image_size, cfg.crop_pct, cfg.mean, cfg.std]).encode())
    for name, tensor in sorted(model.backbone.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def view_seed(digest: str, view: str) -> int:
    """The RNG seed of one photo's augmented view: depends on its content and the view only."""
    return int(hashlib.sha256(f"{digest}:{view}".encode()).hexdigest()[:15], 16)


class FeatureStore:
    """digest -> feature vector, one file per view, for one backbone fingerprint.

    Files are rewritten atomically after merging with what is on disk, so two runs adding features
    at once lose nothing but the (recomputable) work of the slower one.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._views: dict[str, dict[str, torch.Tensor]] = {}

    def _file(self, view: str) -> Path:
        return self.folder / f"{view}.pt"

    def _read(self, view: str) -> dict[str, torch.Tensor]:
        path = self._file(view)
        try:
            payload = torch.load(path, weights_only=True)
            return dict(zip(payload["digests"], payload["features"].unbind(0), strict=True))
        except FileNotFoundError:
            return {}
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, KeyError, ValueError, TypeError):
            path.unlink(missing_ok=True)  # a damaged cache file is recomputed
            return {}

    def view(self, view: str) -> dict[str, torch.Tensor]:
        if view not in self._views:
            self._views[view] = self._read(view)
        return self._views[view]

    def add(self, view: str, features: dict[str, torch.Tensor]) -> None:
        merged = {**self._read(view), **self.view(view), **features}
        self._views[view] = merged
        if not merged:
            return
        digests = sorted(merged)
        payload = {"digests": digests, "features": torch.stack([merged[d] for d in digests])}
        with atomic_open(self._file(view)) as handle:
            torch.save(payload, handle)


class _ViewDataset(Dataset[torch.Tensor]):
    """Decoded photos through one view's transform; augmented views seeded per photo."""

    def __init__(self, paths: Sequence[Path], store: DecodedImageStore, transform: Callable, view: str) -> None:
        self.paths, self.store, self.transform, self.view = list(paths), store, transform, view

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        if self.view != EVAL_VIEW:  # v2 transforms draw from torch's global RNG (loaded in-process)
            torch.manual_seed(view_seed(self.store.digest(path), self.view))
        return self.transform(self.store.load(path))


class FeatureExtractor:
    """Pooled backbone features of photos (a prepared split, or any list of photo paths)."""

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
        fingerprint = backbone_fingerprint(model)
        self.features = FeatureStore(
            Path(prepared.cache_dir).parent.parent / "features" / f"{cfg.backbone}-{fingerprint[:16]}"
        )
        self.backbone = runtime.prepare(model.backbone).eval()
        self.images_computed = 0
        self.seconds = 0.0
        """Photos run through the backbone (cache misses) and the time it took: the run's throughput."""

    def _transform(self, view: str) -> Callable:
        cfg = self.model.config
        if view == EVAL_VIEW:
            return EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)
        return TrainPreset(cfg.image_size, cfg.mean, cfg.std)

    def missing(self, paths: Sequence[Path], view: str) -> list[Path]:
        known = self.features.view(view)
        return [p for p in dict.fromkeys(paths) if self.store.digest(p) not in known]

    @torch.no_grad()
    def of_paths(self, paths: Sequence[Path], view: str = EVAL_VIEW, *, desc: str | None = None) -> torch.Tensor:
        """[N, F] fp16 features of `paths` in `view`, computing only those not cached yet."""
        paths = [Path(p) for p in paths]
        todo = self.missing(paths, view)
        if todo:
            self.store.warm(todo, progress=self.progress)
            loader = DataLoader(_ViewDataset(todo, self.store, self._transform(view), view), batch_size=self.batch_size)
            started = time.perf_counter()
            computed = []
            for x in tqdm(loader, desc=desc or f"features ({view})", leave=False, disable=not self.progress):
                with self.runtime.autocast():
                    computed.append(self.backbone(self.runtime.to_input(x)).float().cpu().half())
            self.seconds += time.perf_counter() - started
            self.images_computed += len(todo)
            rows = torch.cat(computed)
            self.features.add(view, {self.store.digest(p): rows[i] for i, p in enumerate(todo)})
        known = self.features.view(view)
        if not paths:
            return torch.zeros(0, self.model.num_features, dtype=torch.float16)
        return torch.stack([known[self.store.digest(p)] for p in paths])

    def views_of_paths(
        self, paths: Sequence[Path], views: int, *, seed: int = 0, deadline: float | None = None
    ) -> torch.Tensor:
        """[N, V, F] fp16: view 0 is the eval crop, the others seeded random augmentations.

        With a `deadline` (a `time.monotonic()` value), fewer views are computed when the next one would
        not finish in time; cached views cost nothing and are always used.
        """
        out = [self.of_paths(paths, EVAL_VIEW)]
        slowest = 0.0
        for v in range(1, views):
            name = f"aug{v}-s{seed}"
            cached = not self.missing(paths, name)
            if deadline is not None and not cached and time.monotonic() + slowest > deadline:
                break
            started = time.monotonic()
            out.append(self.of_paths(paths, name, desc=f"features view {v}/{views - 1}"))
            slowest = max(slowest, time.monotonic() - started)
        return torch.stack(out, dim=1)

    def eval_view(self, split: str) -> torch.Tensor:
        """[N, F] (fp32) features of the eval crop (resize + centre crop) of a prepared split."""
        return self.of_paths([s.path for s in getattr(self.prepared, split)], desc=f"features {split}").float()

    def train_views(self, views: int, seed: int = 0, deadline: float | None = None) -> torch.Tensor:
        """[N, views, F] (fp16) of the train split; see `views_of_paths`."""
        return self.views_of_paths([s.path for s in self.prepared.train], views, seed=seed, deadline=deadline)
