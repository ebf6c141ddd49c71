"""Which checkpoint to use, decided without importing torch: a rerun with nothing to predict never needs it."""

from __future__ import annotations

from pathlib import Path

from landmarks.errors import CheckpointError
from landmarks.settings import get_settings
from landmarks.state import last_model


def resolve_checkpoint(checkpoint: Path | str | None = None) -> Path:
    """The checkpoint to use: the argument, LANDMARKS_CHECKPOINT, else the last model `landmarks train` finished."""
    if checkpoint:
        return Path(checkpoint)
    settings = get_settings()
    if settings.checkpoint:
        return Path(settings.checkpoint)
    last = last_model()
    if last is not None and last.is_file():
        return last
    raise CheckpointError(
        "no model to predict with: pass --checkpoint FILE, set LANDMARKS_CHECKPOINT, or train one with "
        "`landmarks train --data DIR --out RUN_DIR`"
    )
