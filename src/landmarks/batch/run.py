"""`run_batch`: list the sources, skip what the results already hold, recognise the rest, write it.

The model is loaded once in the driver before anything is read, so a wrong checkpoint fails at
once, and so that the driver knows the model's id and decode size; the local engine then uses
that predictor, the Ray engine one per actor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from landmarks.batch.library_sink import LibraryResults, library_target
from landmarks.batch.parquet import ParquetResults
from landmarks.batch.recognise import ModelInfo, Recogniser
from landmarks.batch.sources import is_uri, list_sources
from landmarks.errors import LandmarksError
from landmarks.inference.predictor import Predictor

ENGINES = ("local", "ray")


@dataclass
class BatchSummary:
    """What a run did: photos listed, skipped as already answered, answered now, and failed."""

    out: str
    engine: str
    model_id: str
    listed: int = 0
    skipped: int = 0
    written: int = 0
    errors: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def open_results(out: str) -> ParquetResults | LibraryResults:
    """The sink `--out` names: a library index (`library:DB`, `*.sqlite`, `*.db`) or a Parquet folder."""
    db = library_target(out)
    if db is not None:
        return LibraryResults(db)
    if is_uri(out) and not out.startswith("file://"):
        raise LandmarksError(
            f"--out {out}: results go to a local (or mounted shared) folder; object-store URIs are not supported yet"
        )
    return ParquetResults(Path(out.removeprefix("file://")))


def run_batch(
    sources: list[str],
    out: str,
    *,
    engine: str = "local",
    checkpoint: Path | str | None = None,
    k: int = 3,
    batch_size: int = 16,
    actors: int = 1,
    ray_address: str | None = None,
    recursive: bool = True,
    progress: bool = True,
) -> BatchSummary:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    started = time.perf_counter()
    photos, problems = list_sources(sources, recursive=recursive)
    predictor = Predictor.load(checkpoint)
    info = ModelInfo.of(predictor, k)
    summary = BatchSummary(out=out, engine=engine, model_id=info.model_id, listed=len(photos), problems=problems)
    with open_results(out) as sink:
        todo = sink.pending(photos, info.model_id, info.gallery_id)
        summary.skipped = len(photos) - len(todo) - len(getattr(sink, "problems", []))
        if todo and engine == "local":
            from landmarks.batch.local import run_local

            run_local(todo, Recogniser(info, batch_size, predictor=predictor), sink, progress=progress)
        elif todo:
            del predictor  # each actor loads its own; the driver's copy would only hold memory
            from landmarks.batch.ray_engine import run_ray

            run_ray(todo, info, sink, actors=actors, batch_size=batch_size, address=ray_address, progress=progress)
        summary.written, summary.errors = sink.written, sink.errors
        summary.problems += getattr(sink, "problems", [])
    summary.seconds = time.perf_counter() - started
    return summary
