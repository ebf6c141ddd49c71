"""The row a batch run writes for each photo, as a pyarrow schema, and how an answer becomes one.

Both engines build rows here, so a Parquet dataset holds the same columns whichever wrote it. A row
is an answer or an error (`decision` is `known`, `unknown` or `error`, as in the library index);
`(path, size, mtime_ns, model_id, gallery_id)` is what a resumed run matches on, `digest` (SHA-256 of
the bytes read) says which content the answer is for.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from landmarks.inference.types import Prediction

GUESS = pa.struct(
    [
        ("rank", pa.int32()),
        ("class_index", pa.int32()),
        ("folder", pa.string()),
        ("name", pa.string()),
        ("probability", pa.float64()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
    ]
)

ROW_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("digest", pa.string()),
        ("model_id", pa.string()),
        ("gallery_id", pa.string()),
        ("decision", pa.string()),
        ("landmark", pa.string()),
        ("score", pa.float64()),
        ("threshold", pa.float64()),
        ("score_kind", pa.string()),
        ("top_k", pa.list_(GUESS)),
        ("error", pa.string()),
    ]
)
"""One photo per row; `landmark` is the top guess's name when the decision is `known`, else null."""

RESUME_KEY = ("path", "size", "mtime_ns", "model_id", "gallery_id")
"""Columns a photo must match for a resumed run to skip it."""


def prediction_row(
    prediction: Prediction, *, path: str, size: int, mtime_ns: int, digest: str, model_id: str, gallery_id: str
) -> dict[str, Any]:
    top = [
        {
            "rank": g.rank,
            "class_index": g.class_index,
            "folder": g.folder,
            "name": g.name,
            "probability": g.probability,
            "latitude": g.latitude,
            "longitude": g.longitude,
        }
        for g in prediction.top
    ]
    return {
        "path": path,
        "size": size,
        "mtime_ns": mtime_ns,
        "digest": digest,
        "model_id": model_id,
        "gallery_id": gallery_id,
        "decision": "unknown" if prediction.unknown else "known",
        "landmark": None if prediction.unknown else prediction.best.name,
        "score": prediction.score,
        "threshold": prediction.threshold,
        "score_kind": prediction.decision,
        "top_k": top,
        "error": None,
    }


def error_row(
    error: str, *, path: str, size: int, mtime_ns: int, digest: str | None, model_id: str, gallery_id: str
) -> dict[str, Any]:
    return {
        "path": path,
        "size": size,
        "mtime_ns": mtime_ns,
        "digest": digest,
        "model_id": model_id,
        "gallery_id": gallery_id,
        "decision": "error",
        "landmark": None,
        "score": None,
        "threshold": None,
        "score_kind": None,
        "top_k": [],
        "error": error,
    }


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
