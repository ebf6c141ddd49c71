"""Bounded inference: a few worker threads at a time, a bounded line behind them, 503 beyond it.

Inference is CPU-bound and holds a whole photo in memory, so the service reads at most
`max_receiving` request bodies at once, then admits at most `max_concurrency + max_queue` read
requests to the model, and runs at most `max_concurrency` inferences in threads, keeping the event
loop free to answer `/healthz`, the page and the 503s. Admission comes only once the body is in:
a client that sends its body slowly (or never) holds a receiving place, under a deadline, and never
a place in the model's line.
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

    def __init__(self, max_concurrency: int, max_queue: int, max_receiving: int = 64) -> None:
        self.max_concurrency = max_concurrency
        self.capacity = max_concurrency + max_queue
        self.max_receiving = max_receiving
        self.admitted = 0
        self.receiving = 0
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

    @asynccontextmanager
    async def receive(self) -> AsyncIterator[None]:
        """Hold one of the `max_receiving` places while a body is read, or raise Overloaded at once."""
        if self.receiving >= self.max_receiving:
            raise Overloaded
        self.receiving += 1
        try:
            yield
        finally:
            self.receiving -= 1

    async def run(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run `fn` in a worker thread once one of the `max_concurrency` workers is free."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._threads)
