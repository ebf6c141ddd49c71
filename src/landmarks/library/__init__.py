"""The library index: a SQLite record of every photo in a library, so geotag runs are incremental.

- `db`: `open_library` (one index per library, locked while a run changes it, versioned schema),
  `LibraryDB`, `PhotoRow`.
- `scan`: `scan_library`, the folder walk that reads only new or changed photos.
- `records`: predictions, proposals (landmark or estimate) and the write journal; `needs_prediction`.
- `stats` / `export`: what is located and by what, as numbers, GeoJSON or CSV.
- `estimate` (pure, with `geo`) / `nearby`: places for photos taken around located ones, from the same
  camera's anchors by time, planned as `estimate` proposals with a per-photo report.

Same layer as `geotag`: it imports data, catalog, settings, errors and atomic, never cli, serve or geotag.
"""
