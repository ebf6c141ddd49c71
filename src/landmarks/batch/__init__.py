"""Batch recognition: every photo under some sources, one row each, on a local engine or on Ray Data.

- `sources`: what to read (folders, globs, `@file lists`, pyarrow/fsspec URIs) and how to read it.
- `schema`: the row (pyarrow schema) both engines write, and how a prediction or an error becomes one.
- `decode` / `recognise`: the decode step and the recogniser both engines share, so their answers match.
- `parquet` / `library_sink`: where rows go (a Parquet dataset written atomically, or a library index)
  and which photos a resumed run may skip.
- `local` / `ray_engine`: the two engines; only `ray_engine` imports Ray.
- `run`: `run_batch`, what `landmarks batch` calls.

Layer 4 (beside geotag, library and serve): it imports inference, library and data, never cli.
"""
