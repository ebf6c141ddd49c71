"""Put photos on the map: write a recognised landmark's location into photos, and take it back.

- `metadata`: GPS + XMP LocationShown read and written through exiftool, atomically
- `places`:   keywords and place names (`--tags`), added and taken back exactly
- `batch`:    the index-free batch run (predict, decide, write) behind `landmarks geotag PHOTOS`
- `plan`:     a library's plan: scan, predict what the index lacks, propose (`geotag DIR --plan`)
- `plan_csv`: the plan as a CSV with an `accept` column, and reading an edited one back
- `apply`:    `apply_proposals`: write accepted proposals, journaled in the index (and a CSV report)
- `recover`:  settle the writes a killed run left unsettled
- `report`:   the per-photo CSV report (also the undo journal) and the GeoJSON map
- `undo`:     `landmarks geotag --undo REPORT.csv`; `library_undo`: `geotag undo DIR [--kind estimate]`

The names below are imported on first use, so `import landmarks.geotag.metadata` (the CLI does it at
start-up) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GeotagOptions": "batch",
    "GeotagSummary": "batch",
    "PredictorLike": "batch",
    "geotag": "batch",
    "Location": "metadata",
    "SidecarName": "metadata",
    "WriteMode": "metadata",
    "read_gps": "metadata",
    "sidecar_path": "metadata",
    "Action": "report",
    "PhotoResult": "report",
    "read_report": "report",
    "UndoSummary": "undo",
}  # `undo()` itself: `landmarks.geotag.undo.undo` (the package attribute `undo` is that module)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"landmarks.geotag.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'landmarks.geotag' has no attribute {name!r}")
