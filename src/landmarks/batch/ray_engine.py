"""The Ray Data engine: photo paths -> decode tasks -> an actor pool holding the model -> Parquet.

`ray.init()` with no address starts a Ray on this machine; `address` (or RAY_ADDRESS) joins a cluster.
Photos are listed by the driver and handed to Ray as rows of paths (not read with
`read_binary_files`): a file that cannot be read then becomes an error row in its decode task
instead of failing the whole dataset. Actors are restarted by Ray Data when they die and their
batches retried, so a killed actor costs time, not rows. Only this module imports Ray.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import ray

from landmarks.batch.decode import decode_table
from landmarks.batch.local import ROWS_PER_PART
from landmarks.batch.parquet import ParquetResults
from landmarks.batch.recognise import ModelInfo, Recogniser
from landmarks.batch.sources import SourceFile

DECODE_BATCH = 8
"""Photos per decode task: large enough to amortise a task's overhead, small enough to spread out."""

DECODE_CPUS = 0.25
"""CPUs a decode task reserves: decoding is short and partly waits on storage reads."""


def _actor_cpus(actors: int, requested: float | None) -> float:
    """One CPU per actor where the cluster has room for it beside a decode task, else a fair share."""
    if requested is not None:
        return requested
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.1, min(1.0, (total - DECODE_CPUS) / max(actors, 1)))


def run_ray(
    photos: Sequence[SourceFile],
    info: ModelInfo,
    sink: Any,
    *,
    actors: int = 1,
    batch_size: int = 16,
    address: str | None = None,
    actor_cpus: float | None = None,
    progress: bool = True,
    recogniser: type[Recogniser] = Recogniser,
    rows_per_file: int = ROWS_PER_PART,
) -> None:
    """Recognise `photos` on Ray; a `ParquetResults` sink is written by Ray's Parquet writer, any other
    sink (a library index) from the driver as results stream in. `recogniser`: the class each actor
    holds (tests slow it down); `rows_per_file`: rows Ray gathers into one Parquet part."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.print_on_execution_start = progress
        items = [{"path": p.path, "size": p.size, "mtime_ns": p.mtime_ns} for p in photos]
        blocks = max(1, min(len(items) // DECODE_BATCH, 1000))
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        ds = ds.map_batches(
            decode_table,
            fn_kwargs={"min_side": info.min_side},
            batch_size=DECODE_BATCH,
            batch_format="pyarrow",
            num_cpus=DECODE_CPUS,
            # No more decode tasks at once than CPUs: each is a worker process holding decoded photos.
            compute=ray.data.TaskPoolStrategy(size=max(1, int(ray.cluster_resources().get("CPU", 1)))),
        )
        ds = ds.map_batches(
            recogniser,
            fn_constructor_kwargs={"info": info, "batch_size": batch_size},
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=_actor_cpus(actors, actor_cpus),
        )
        if isinstance(sink, ParquetResults):
            ds.write_parquet(str(sink.staging), min_rows_per_file=rows_per_file)
            sink.commit()
        else:
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                sink.write(batch)
    finally:
        if started:
            ray.shutdown()
