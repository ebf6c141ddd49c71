"""The ONNX backend: an export run by ONNX Runtime, with numpy/Pillow preprocessing; never imports torch.

Everything the Predictor needs besides the network (classes, landmarks, calibration and decision rule,
retrieval index, dataset root) comes out of the export itself, checked by `OnnxModel` (the checkpoint's
SHA-256 when it sits beside the export, the index's own digest), so no checkpoint is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from landmarks.catalog import Landmark
from landmarks.errors import ExportError
from landmarks.inference.backends import ModelRecord, ModelShape
from landmarks.retrieval.calibration import Calibration, softmax_probs
from landmarks.retrieval.decision import DecisionRule
from landmarks.retrieval.index import EmbeddingIndex
from landmarks.runtime_onnx.metadata import ExportMetadata
from landmarks.runtime_onnx.model import OnnxModel
from landmarks.runtime_onnx.preprocess import preprocess

MIN_FORMAT_VERSION = 2
"""Exports before it lack the decision rule and the retrieval index."""


def record_of(meta: ExportMetadata, index: dict | None, source: str) -> ModelRecord:
    """The `ModelRecord` an export describes (its damaged parts become one-line `ExportError`s)."""
    cal = meta.calibration
    try:
        return ModelRecord(
            model=ModelShape.from_dict(meta.model),
            classes=list(meta.classes),
            landmarks=[Landmark.from_dict(d) for d in meta.landmarks],
            calibration=Calibration(
                temperature=float(cal.temperature),
                threshold=float(cal.threshold),
                score=cal.score,
                decision=DecisionRule.from_dict(cal.decision) if cal.decision else None,
                details=dict(cal.details),
            ),
            index=EmbeddingIndex.from_dict(index) if index is not None else None,
            extra={"dataset": dict(meta.dataset)} if meta.dataset else {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{source}: damaged landmarks metadata ({exc})") from None


class OnnxBackend:
    """`Backend` over an `.onnx` export; `record` is rebuilt from the export's metadata."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = OnnxModel(self.path, threads=threads).load()
        meta = self.session.metadata
        if meta.format_version < MIN_FORMAT_VERSION:
            raise ExportError(
                f"{self.path} was made by an older landmarks (export format {meta.format_version}) and lacks the "
                f"decision rule and retrieval index; export it again with `landmarks export --checkpoint CKPT`"
            )
        self.name = f"onnx {meta.precision}"
        self.pre = meta.preprocessing
        self.record = record_of(meta, self.session.index_document(), str(self.path))
        self.outputs = ["log_probs"]
        if self.record.index is not None:
            if "embedding" not in meta.outputs:
                raise ExportError(f"{self.path} carries a retrieval index but no embedding output")
            self.outputs.append("embedding")
            width = self.session.output_shape("embedding")[-1]
            if isinstance(width, int) and width != self.record.index.dim:
                raise ExportError(f"{self.path}: its embedding output and its retrieval index differ in width")

    def fingerprint(self) -> dict[str, Any]:
        found = self.session.metadata.embedding_fingerprint
        if not found:
            raise ExportError(
                f"{self.path} predates galleries (no embedding fingerprint in it); export it again with "
                f"`landmarks export --checkpoint CKPT`, or use --backend torch"
            )
        return dict(found)

    def prepare(self, image: Image.Image) -> np.ndarray:
        return preprocess(image, self.pre)

    def run(self, prepared: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        return self.run_batch(np.stack(prepared))

    def run_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        out = self.session.run(batch, self.outputs)
        # log_probs are already divided by the temperature (in the graph): softmax only renormalises.
        return softmax_probs(out["log_probs"]), out.get("embedding")
