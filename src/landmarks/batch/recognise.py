"""The model step every engine runs: decoded photos (`batch.decode`) in, result rows out.

Both engines run this class, the local one in its own process, Ray's in each actor of the pool, so
the answers match. A photo the model cannot use becomes an error row; the run goes on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from landmarks.batch.schema import error_row, prediction_row, to_table
from landmarks.errors import LandmarksError
from landmarks.inference.predictor import Predictor


def model_id_of(predictor: Predictor) -> str:
    """The model's identity for resuming: the predictor's own id where it has one, else a digest of the
    checkpoint file (a retrained model in the same place gets a new id)."""
    own = getattr(predictor, "model_id", None)
    if own:
        return str(own)
    with open(predictor.checkpoint_path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def gallery_id_of(predictor: Predictor) -> str:
    """The gallery the predictor searches, when it has one (empty otherwise, as in the library index)."""
    return str(getattr(predictor, "gallery_id", "") or "")


@dataclass(frozen=True)
class ModelInfo:
    """What the driver learns from loading the model once, before any photo is read."""

    checkpoint: Path
    model_id: str
    gallery_id: str
    min_side: int
    k: int

    @classmethod
    def of(cls, predictor: Predictor, k: int) -> ModelInfo:
        k = min(k, len(predictor.classes))
        return cls(predictor.checkpoint_path, model_id_of(predictor), gallery_id_of(predictor),
                   predictor.decode_min_side, k)  # fmt: skip


class Recogniser:
    """Decoded photos -> result rows, with one model loaded once (a Ray actor holds one of these)."""

    def __init__(self, info: ModelInfo, batch_size: int = 16, predictor: Predictor | None = None) -> None:
        self.info = info
        self.batch_size = batch_size
        self.predictor = predictor or Predictor.load(info.checkpoint)

    def rows(self, decoded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        info = self.info
        ids = {"model_id": info.model_id, "gallery_id": info.gallery_id}
        out: list[dict[str, Any] | None] = [None] * len(decoded)
        good = []
        for i, d in enumerate(decoded):
            keys = {"path": d["path"], "size": d["size"], "mtime_ns": d["mtime_ns"], "digest": d["digest"]}
            if d["error"] is not None:
                out[i] = error_row(d["error"], **keys, **ids)
            else:
                good.append(i)
        images = [_image(decoded[i]) for i in good]
        answers = self.predictor.predict_many(
            images, k=info.k, batch_size=self.batch_size, sources=[decoded[i]["path"] for i in good]
        )
        for i, answer in zip(good, answers, strict=True):
            d = decoded[i]
            keys = {"path": d["path"], "size": d["size"], "mtime_ns": d["mtime_ns"], "digest": d["digest"]}
            if isinstance(answer, LandmarksError):
                out[i] = error_row(str(answer), **keys, **ids)
            else:
                out[i] = prediction_row(answer, **keys, **ids)
        return [r for r in out if r is not None]

    def __call__(self, table: pa.Table) -> pa.Table:
        """Ray's `map_batches` entry point: a batch of `DECODED_SCHEMA` rows -> result rows."""
        return to_table(self.rows(table.to_pylist()))


def _image(row: dict[str, Any]) -> Image.Image:
    pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"], 3)
    return Image.fromarray(pixels, "RGB")
