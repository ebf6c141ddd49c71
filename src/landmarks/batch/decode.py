"""The decode step every engine runs: read a photo, hash its bytes, decode it upright RGB.

Both engines run these functions, the local one in threads, Ray's in decode tasks, so the answers
match. A decoded photo travels as a row of `DECODED_SCHEMA` (its RGB pixels as bytes plus their
shape), which is what Ray moves from its decode tasks to the actors. No torch here: a decode task's
worker process stays small and starts fast.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from landmarks.batch.sources import SourceFile, read_bytes
from landmarks.data.images import load_rgb
from landmarks.errors import LandmarksError

DECODED_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("digest", pa.string()),
        ("error", pa.string()),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("pixels", pa.large_binary()),
    ]
)


def decode(photo: SourceFile, min_side: int | None) -> dict[str, Any]:
    """One `DECODED_SCHEMA` row: the photo's pixels, or why it has none (never raises for a bad photo).

    `min_side` lets JPEGs decode reduced (draft mode) to what the model needs, as `Predictor` does."""
    row: dict[str, Any] = {"path": photo.path, "size": photo.size, "mtime_ns": photo.mtime_ns, "digest": None,
                           "error": None, "height": 0, "width": 0, "pixels": b""}  # fmt: skip
    try:
        data = read_bytes(photo.path)
    except OSError as exc:
        row["error"] = f"{photo.path}: cannot read the file ({exc.strerror or exc})"
        return row
    row["digest"] = hashlib.sha256(data).hexdigest()
    try:
        image = load_rgb(data, min_side=min_side)
    except LandmarksError as exc:
        row["error"] = str(exc).replace("<uploaded bytes>", photo.path, 1)
        return row
    pixels = np.asarray(image, dtype=np.uint8)
    row.update(height=pixels.shape[0], width=pixels.shape[1], pixels=pixels.tobytes())
    return row


def decode_table(table: pa.Table, min_side: int | None) -> pa.Table:
    """`decode` for a batch of `path, size, mtime_ns` rows (a Ray decode task's work)."""
    photos = [SourceFile(r["path"], r["size"], r["mtime_ns"]) for r in table.to_pylist()]
    return pa.Table.from_pylist([decode(p, min_side) for p in photos], schema=DECODED_SCHEMA)
