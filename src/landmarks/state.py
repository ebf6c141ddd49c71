"""The user's "last trained model" record: which checkpoint `landmarks predict` uses when told none.

It lives in the cache directory and is written only by the `landmarks train` and `quickstart`
commands (an explicit step after a run), never by `fit()` itself, so tests and benchmarks that train
models leave the user's default model alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from landmarks import __version__
from landmarks.atomic import atomic_write_text
from landmarks.settings import cache_dir

LAST_MODEL_FILE = "last_model.json"


def remember_last_model(checkpoint: Path, cache: Path | None = None) -> Path:
    """Record `checkpoint` as the model `landmarks predict` finds without being told; returns the record."""
    record = {"checkpoint": str(Path(checkpoint).resolve()), "version": __version__, "time": time.time()}
    return atomic_write_text(cache_dir(cache) / LAST_MODEL_FILE, json.dumps(record, indent=2))


def last_model(cache: Path | None = None) -> Path | None:
    """The checkpoint last recorded by `remember_last_model`, or None when there is no (readable) record."""
    path = cache_dir(cache) / LAST_MODEL_FILE
    try:
        return Path(json.loads(path.read_text())["checkpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
