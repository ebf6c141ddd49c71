"""Bounded inference: a few worker threads at a time, a bounded line behind them, 503 beyond it.

Inference is CPU-bound and holds a whole photo in memory, so the service admits at most
`max_concurrency + max_queue` requests at once (admission happens before the upload is read, which
also bounds the memory uploads can take) and runs at most `max_concurrency` inferences in threads,
keeping the event loop free to answer `/healthz`, the page and the 503s.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class Overloaded(Exception):
    """Every slot is taken: the caller should answer 503 and suggest a retry."""


class InferenceLimiter:
    """Admission control plus a capacity limiter for the worker threads.

    Counters are only touched on the event loop thread, so they need no lock.
    """

    def __init__(self, max_concurrency: int, max_queue: int) -> None:
        self.max_concurrency = max_concurrency
        self.capacity = max_concurrency + max_queue
        self.admitted = 0
        self._threads = anyio.CapacityLimiter(max_concurrency)

    @property
    def running(self) -> int:
        return int(self._threads.borrowed_tokens)

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of the `capacity` slots for the whole request, or raise Overloaded at once."""
        if self.admitted >= self.capacity:
            raise Overloaded
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run `fn` in a worker thread once one of the `max_concurrency` workers is free."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._threads)
