"""Group commit: items handed in by concurrently running jobs, written a batch at a time.

Each job awaits `BatchWriter.submit(item)`. One flusher takes up to `max_items` waiting items
(or, when fewer wait, whatever arrived after `max_delay` seconds), in the order they were
submitted, and hands them to the batch handler, which writes them in ONE transaction and
returns one result per item. Only one batch is written at a time, so items are written in
submission order.

When the batch fails, its items are written again one at a time, so that only the bad item's
job fails (and gets the job's usual retry, park or outage handling); `split(error)` can say
that a failure is not an item's fault (the database is down) and the whole batch fails at
once instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tasktracker.servicekit import tracing

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Writes the items in one transaction; returns one result per item, in the items' order.
BatchHandler = Callable[[Sequence[T]], Awaitable[Sequence[R]]]


class BatchWriterClosed(RuntimeError):
    """An item was submitted to a writer that is closing."""


@dataclass(eq=False)
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # The submitting job's trace: the batch's span continues it (None with tracing off).
    trace_context: dict[str, str] | None = field(default_factory=tracing.current_carrier)


class BatchWriter(Generic[T, R]):
    def __init__(
        self,
        handler: BatchHandler[T, R],
        *,
        max_items: int = 200,
        max_delay: float = 0.002,
        split: Callable[[BaseException], bool] = lambda error: True,
        name: str = "batch-writer",
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._handler = handler
        self._max_items = max_items
        self._max_delay = max_delay
        self._split = split
        self._name = name
        self._waiting: list[_Pending[T, R]] = []
        self._arrived = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # how many batch transactions were attempted (for logs and tests)

    async def submit(self, item: T) -> R:
        """Queue the item; returns its result once its batch committed, or raises its error."""
        if self._closing:
            raise BatchWriterClosed(f"{self._name} is closing")
        pending: _Pending[T, R] = _Pending(item)
        self._waiting.append(pending)
        self._arrived.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run(), name=self._name)
        return await pending.future

    async def close(self) -> None:
        """Write what is waiting, then stop."""
        self._closing = True
        self._arrived.set()
        if self._flusher is not None:
            await self._flusher

    async def _run(self) -> None:
        batch: list[_Pending[T, R]] = []
        try:
            while self._waiting or not self._closing:
                if not self._waiting:
                    self._arrived.clear()
                    await self._arrived.wait()
                    continue
                if len(self._waiting) < self._max_items and not self._closing:
                    await asyncio.sleep(self._max_delay)  # let concurrent jobs add theirs
                batch = self._waiting[: self._max_items]
                del self._waiting[: self._max_items]
                live = [pending for pending in batch if not pending.future.done()]
                if live:
                    await self._write(live)
                batch = []
        finally:  # cancelled: no job may wait forever for a batch that will not be written
            stopped = BatchWriterClosed(f"{self._name} stopped")
            for pending in [*batch, *self._waiting]:
                _resolve(pending, error=stopped)
            self._waiting.clear()

    async def _write(self, batch: list[_Pending[T, R]]) -> None:
        self.batches += 1
        try:
            with tracing.batch_span(
                f"write {self._name}",
                (pending.trace_context for pending in batch),
                kind=tracing.SpanKind.INTERNAL,
            ):
                results = await self._handler([pending.item for pending in batch])
            if len(results) != len(batch):
                raise RuntimeError(
                    f"batch handler returned {len(results)} results for {len(batch)}"
                )
        except Exception as error:
            if len(batch) == 1 or not self._split(error):
                for pending in batch:
                    _resolve(pending, error=error)
                return
            log.warning(
                "%s: a batch of %d failed (%r); writing them one by one",
                self._name,
                len(batch),
                error,
            )
            for pending in batch:
                await self._write([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            _resolve(pending, result=result)


def _resolve(
    pending: _Pending[T, R], *, result: R | None = None, error: BaseException | None = None
) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # the job was cancelled meanwhile
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)  # type: ignore[arg-type]
