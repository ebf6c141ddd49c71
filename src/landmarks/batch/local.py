"""The local engine: one process, photos decoded in threads, the model loaded once, parts written as it goes.

No Ray needed. It runs the same `decode` and `Recogniser` as the Ray engine, so both give the same rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import pyarrow as pa
from tqdm import tqdm

from landmarks.batch.decode import decode
from landmarks.batch.recognise import Recogniser
from landmarks.batch.schema import to_table
from landmarks.batch.sources import SourceFile

ROWS_PER_PART = 1024
"""Rows per Parquet part: a killed run loses at most this many answers (they are redone on resume)."""

DECODE_THREADS = 2
"""Pillow and hashlib release the GIL: decoding the next batch overlaps the model on the current one."""


class Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...


def run_local(
    photos: Sequence[SourceFile],
    recogniser: Recogniser,
    sink: Sink,
    *,
    rows_per_part: int = ROWS_PER_PART,
    progress: bool = True,
) -> None:
    """Recognise `photos` batch by batch, writing a part every `rows_per_part` rows."""
    batch = recogniser.batch_size
    pending: list[dict[str, Any]] = []
    min_side = recogniser.info.min_side
    chunks = [photos[i : i + batch] for i in range(0, len(photos), batch)]
    with (
        ThreadPoolExecutor(DECODE_THREADS) as pool,
        tqdm(total=len(photos), unit="photo", desc="batch (local)", disable=not progress) as bar,
    ):
        # At most DECODE_THREADS chunks decode ahead of the model: memory stays bounded.
        ahead: deque[Future[list[dict[str, Any]]]] = deque()
        for chunk in chunks:
            ahead.append(pool.submit(lambda c: [decode(p, min_side) for p in c], chunk))
            if len(ahead) > DECODE_THREADS:
                pending = _recognise(ahead.popleft().result(), recogniser, sink, pending, rows_per_part, bar)
        while ahead:
            pending = _recognise(ahead.popleft().result(), recogniser, sink, pending, rows_per_part, bar)
        if pending:
            sink.write(to_table(pending))


def _recognise(
    decoded: list[dict[str, Any]],
    recogniser: Recogniser,
    sink: Sink,
    pending: list[dict[str, Any]],
    rows_per_part: int,
    bar: tqdm,
) -> list[dict[str, Any]]:
    pending.extend(recogniser.rows(decoded))
    bar.update(len(decoded))
    if len(pending) >= rows_per_part:
        sink.write(to_table(pending))
        return []
    return pending
