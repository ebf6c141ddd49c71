"""landmarks: recognise famous landmarks in photos and put photos on the map."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("landmarks")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from pathlib import Path

    from landmarks.inference.types import Prediction

__all__ = ["__version__", "predict"]


def predict(image: str | Path | Any, k: int = 3, checkpoint: str | Path | None = None) -> Prediction:
    """Top-k landmarks for one photo; see `landmarks.inference.predictor.predict`."""
    from landmarks.inference.predictor import predict as _predict

    return _predict(image, k=k, checkpoint=checkpoint)
