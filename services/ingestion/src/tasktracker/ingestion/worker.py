"""The ingestion service's TaskIQ broker and jobs (run with `tasktracker-ingestion worker`).

`save_telegram_message` stays one job per update (retries, outage waits and dead letters are
per job), but jobs don't write alone: each parses its update and hands it to the worker's
`BatchWriter`, which stores whatever the concurrently running jobs handed in, in arrival
order, in one transaction (`ingest_batch`), and answers each job with its own outcome. A batch
that fails is stored again one update at a time, so only the bad update's job fails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

from taskiq import AsyncBroker, Context, TaskiqDepends, TaskiqEvents, TaskiqState

from tasktracker.ingestion.binding import release_chunk
from tasktracker.ingestion.history import run_import
from tasktracker.ingestion.ingest import Outcome, PreparedUpdate, ingest_batch, prepare
from tasktracker.ingestion.queue import (
    IMPORT_HISTORY,
    RELEASE_PARKED,
    SAVE_TELEGRAM_MESSAGE,
    enqueue_import,
    enqueue_release,
)
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.batching import BatchWriter
from tasktracker.servicekit.job_errors import must_wait
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)


class UpdateWriter(BatchWriter[PreparedUpdate, Outcome]):
    """Stores updates handed in by `save_telegram_message` jobs, a batch per transaction."""

    def __init__(
        self, runtime: WorkerRuntime, broker: AsyncBroker, settings: IngestionSettings
    ) -> None:
        super().__init__(
            self.store,
            max_items=settings.store_batch_max_items,
            max_delay=settings.store_batch_max_delay_seconds,
            split=lambda error: not must_wait(error),  # an outage is no update's fault
            name="update-writer",
        )
        self._runtime = runtime
        self._broker = broker

    async def store(self, batch: Sequence[PreparedUpdate]) -> list[Outcome]:
        async with db.transaction(self._runtime.sessions) as session:
            return await ingest_batch(session, batch, release=self._release)

    async def _release(self, chat_id: int) -> None:
        await enqueue_release(self._broker, chat_id)


async def save_telegram_message(
    update: dict[str, Any] | str, context: Annotated[Context, TaskiqDepends()]
) -> str:
    """Store one Telegram update (the webhook's JSON body; a decoded dict is accepted too):
    message, user, profile and event, committed with the other updates of its batch."""
    writer: UpdateWriter = context.state.update_writer
    outcome = await writer.submit(prepare(update))
    log.debug("update: %s", outcome)
    return str(outcome)


async def release(runtime: WorkerRuntime, chat_id: int, chunk: int) -> int:
    """Release the chat's parked updates, a chunk per transaction; how many."""
    released = 0
    while True:
        async with db.transaction(runtime.sessions) as session:
            count = await release_chunk(session, chat_id, chunk)
        released += count
        if count < chunk:
            return released


async def release_parked(chat_id: int, context: Annotated[Context, TaskiqDepends()]) -> int:
    runtime: WorkerRuntime = context.state.runtime
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    released = await release(runtime, chat_id, settings.release_chunk_size)
    log.info("chat %s: %s parked updates released", chat_id, released)
    return released


async def import_history(import_id: int, context: Annotated[Context, TaskiqDepends()]) -> str:
    """Store a chat history import from its cursor on, a chunk per transaction, for at most
    half the job's ack wait: then it queues its continuation and ends, so JetStream never
    delivers a long import again while it still runs (were it to, the import's row lock
    keeps the two runs to one chunk at a time)."""
    runtime: WorkerRuntime = context.state.runtime
    settings: IngestionSettings = runtime.settings  # type: ignore[assignment]
    done = await run_import(
        runtime.sessions,
        import_id,
        settings.import_chunk_size,
        budget_seconds=settings.job_ack_wait_seconds / 2,
    )
    if done is not None and done.status not in ("completed", "failed"):
        await enqueue_import(context.broker, import_id)
        return "continued"
    status = "missing" if done is None else done.status
    log.info("import %s: %s", import_id, status)
    return status


def build_broker(settings: IngestionSettings) -> JobBroker:
    broker = make_job_broker(settings)
    runtime = WorkerRuntime(settings)
    writer = UpdateWriter(runtime, broker, settings)

    async def close_writer(state: TaskiqState) -> None:
        await writer.close()  # before the runtime's shutdown disposes of the database

    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, close_writer)
    runtime.attach(broker)
    broker.state.runtime = runtime
    broker.state.update_writer = writer
    broker.register_task(save_telegram_message, task_name=SAVE_TELEGRAM_MESSAGE)
    broker.register_task(release_parked, task_name=RELEASE_PARKED)
    broker.register_task(import_history, task_name=IMPORT_HISTORY)
    return broker


broker = build_broker(IngestionSettings())
