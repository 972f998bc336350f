"""The ingestion worker (`tasktracker-ingestion worker`): Telegram's updates, consumed from
their stream as fetched batches (`update_consumer.py`), and the service's TaskIQ jobs:
`release_parked` and `import_history`.

Updates were once a `save_telegram_message` job each; the webhook now publishes them to a
stream of their own (`updates.py` says why). The task stays registered so that jobs an older
API queued still drain, and so that `requeue-parked` brings back a parked update (the
consumer parks an update as such a job). It stores its update alone: a job of it is rare.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Any

from taskiq import Context, TaskiqDepends

from tasktracker.ingestion.binding import release_chunk
from tasktracker.ingestion.history import run_import
from tasktracker.ingestion.ingest import ingest_update
from tasktracker.ingestion.queue import (
    IMPORT_HISTORY,
    RELEASE_PARKED,
    SAVE_TELEGRAM_MESSAGE,
    enqueue_import,
    enqueue_release,
)
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.update_consumer import update_consumers
from tasktracker.ingestion.updates import updates_stream_config
from tasktracker.servicekit import db
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)


async def save_telegram_message(
    update: dict[str, Any] | str, context: Annotated[Context, TaskiqDepends()]
) -> str:
    """Store one Telegram update (the webhook's JSON body; a decoded dict is accepted too):
    message, user, profile and event, in a transaction of its own."""
    runtime: WorkerRuntime = context.state.runtime
    release = partial(enqueue_release, context.broker)
    async with db.transaction(runtime.sessions) as session:
        outcome = await ingest_update(session, update, release=release)
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
    runtime = WorkerRuntime(
        settings,
        consumers=update_consumers(settings, broker),
        streams=[updates_stream_config(settings)],
    )
    runtime.attach(broker)
    broker.state.runtime = runtime
    # Jobs an older API queued, and parked updates `requeue-parked` kicks again.
    broker.register_task(save_telegram_message, task_name=SAVE_TELEGRAM_MESSAGE)
    broker.register_task(release_parked, task_name=RELEASE_PARKED)
    broker.register_task(import_history, task_name=IMPORT_HISTORY)
    return broker


broker = build_broker(IngestionSettings())
