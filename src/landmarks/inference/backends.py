"""The seam between the Predictor and the network that scores photos: torch or ONNX Runtime.

A backend turns decoded photos into what the rest of the Predictor works on: calibrated class
probabilities [N, C] and the retrieval embeddings [N, D] (None without an index). It also says what
the model is (`record`: classes, landmarks, calibration, index, dataset), read from the same file the
network came from, so the answer and its metadata can never come from two different models.

- `torch`: a checkpoint (`best.pt`), run by torch (`torch_backend.py`, imported only when chosen).
- `onnx`: an export (`best.onnx`, or `.int8.onnx`), run by ONNX Runtime with numpy/Pillow
  preprocessing (`onnx_backend.py`): no torch, no checkpoint needed.
- `auto` (the default): the export beside the checkpoint when there is one, else torch. An export
  that is there but broken or stale is an error, never a quiet fall back to torch (answers would change).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from landmarks.catalog import Landmark
from landmarks.errors import CheckpointError, ExportError, LandmarksError
from landmarks.retrieval.calibration import Calibration
from landmarks.retrieval.index import EmbeddingIndex
from landmarks.runtime_onnx.metadata import export_path_for
from landmarks.settings import get_settings

BackendName = Literal["auto", "torch", "onnx"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")

TRAIN_EXTRA = "pip install 'landmarks[train]'"


class MissingTorchError(LandmarksError):
    """A command needs torch (the `train` extra), which is not installed."""


@dataclass(frozen=True)
class ModelShape:
    """The part of a `ModelConfig` inference reads (a checkpoint gives its `ModelConfig` itself)."""

    arch: str
    image_size: int
    crop_pct: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    backbone: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelShape:
        return cls(
            arch=str(d.get("arch", "")),
            image_size=int(d["image_size"]),
            crop_pct=float(d.get("crop_pct", 0.875)),
            mean=tuple(float(m) for m in d["mean"]),
            std=tuple(float(s) for s in d["std"]),
            backbone=d.get("backbone"),
        )


@dataclass
class ModelRecord:
    """What the Predictor reads about a model; the same field names as `engine.checkpoint.Checkpoint`."""

    model: ModelShape
    classes: list[str]
    landmarks: list[Landmark]
    calibration: Calibration
    index: EmbeddingIndex | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str
    """`torch`, `onnx fp32` or `onnx int8`: what runs the network (shown by benchmarks and `serve`)."""
    path: Path
    """The file the network and its metadata were read from."""
    record: Any
    """A `Checkpoint` or a `ModelRecord`: classes, landmarks, calibration, index, extra, model."""

    def prepare(self, image: Image.Image) -> Any:
        """One decoded RGB photo as the network's input (a tensor or an array)."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """The identity of the model's embeddings, which a gallery must match (engine/fingerprint.py)."""
        ...

    def run(self, prepared: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities [N, C] and retrieval embeddings [N, D] (None without an index)."""
        ...


def choose(path: Path, backend: str = "auto") -> tuple[str, Path]:
    """(`torch` or `onnx`, the file to load) for a model path and the backend asked for."""
    if backend not in BACKENDS:
        raise LandmarksError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    if path.suffix == ".onnx":
        if backend == "torch":
            raise CheckpointError(f"{path} is an ONNX export; the torch backend needs the .pt checkpoint")
        return "onnx", path
    export = export_path_for(path)
    if backend == "torch":
        return "torch", path
    if backend == "onnx":
        if not export.exists():
            raise ExportError(
                f"no ONNX export beside {path} (looked for {export.name}); make one with "
                f"`landmarks export --checkpoint {path}`, or use --backend torch"
            )
        return "onnx", export
    return ("onnx", export) if export.exists() else ("torch", path)


def torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["torch"] is None (import blocked)
        return False


def open_backend(path: Path, backend: str = "auto", device: str | None = None, threads: int | None = None) -> Backend:
    """Load the model at `path` (a checkpoint or an export) on the backend `choose` picks.

    `threads`: intra-op threads per inference (default: LANDMARKS_NUM_THREADS, else one per core)."""
    if threads is None:
        threads = get_settings().num_threads
    kind, file = choose(Path(path), backend)
    if kind == "onnx":
        if device not in (None, "cpu"):
            raise LandmarksError(f"the ONNX backend runs on the CPU; --device {device} needs --backend torch")
        from landmarks.inference.onnx_backend import OnnxBackend

        return OnnxBackend(file, threads=threads)
    if not torch_available():
        why = "the torch backend" if backend == "torch" else f"{file}, which has no ONNX export beside it,"
        raise MissingTorchError(
            f"running {why} needs torch, which is not installed: `landmarks export` the checkpoint where torch "
            f"is, or `{TRAIN_EXTRA}`"
        )
    from landmarks.inference.torch_backend import TorchBackend

    return TorchBackend(file, device, threads)
