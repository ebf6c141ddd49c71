"""The torch backend: a checkpoint's network, run with bf16 autocast where the CPU supports it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from landmarks.data.transforms import EvalPreset
from landmarks.engine.calibration import calibrated_probs
from landmarks.engine.checkpoint import Checkpoint, load_checkpoint
from landmarks.engine.fingerprint import model_fingerprint
from landmarks.engine.runtime import Runtime


class TorchBackend:
    """`Backend` over a `.pt` checkpoint; `record` is the `Checkpoint` itself."""

    name = "torch"

    def __init__(self, path: Path, device: str | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        if threads:
            torch.set_num_threads(threads)  # process-wide, as torch has it
        self.record: Checkpoint = load_checkpoint(self.path)
        self.runtime = Runtime.detect(device)
        self.model = self.runtime.prepare(self.record.build_model()).eval()
        cfg = self.record.model
        self.transform = EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)

    @functools.cache  # noqa: B019 (one backend per Predictor, kept for its life)
    def fingerprint(self) -> dict[str, Any]:
        return model_fingerprint(self.record)

    def prepare(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)

    @torch.inference_mode()
    def run(self, prepared: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray | None]:
        return self.run_batch(torch.stack(prepared))

    @torch.inference_mode()
    def run_batch(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        with self.runtime.autocast():
            features = self.model.forward_features(self.runtime.to_input(batch))
            log_probs = self.model.forward_head(features).float().cpu()
        probs = calibrated_probs(log_probs, self.record.calibration.temperature).numpy()
        embeddings = self.model.embed(features).cpu().numpy() if self.record.index is not None else None
        return probs, embeddings
