"""The ingestion service's TaskIQ broker and jobs (run with `tasktracker-ingestion worker`)."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Annotated, Any

from taskiq import AsyncBroker, Context, TaskiqDepends

from tasktracker.ingestion.binding import release_chunk
from tasktracker.ingestion.ingest import Outcome, ingest_update
from tasktracker.ingestion.queue import RELEASE_PARKED, SAVE_TELEGRAM_MESSAGE, enqueue_release
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)


async def save(
    runtime: WorkerRuntime, broker: AsyncBroker, payload: dict[str, Any] | str
) -> Outcome:
    update = json.loads(payload) if isinstance(payload, str) else payload
    async with db.transaction(runtime.sessions) as session:
        return await ingest_update(session, update, release=partial(enqueue_release, broker))


async def save_telegram_message(
    update: dict[str, Any] | str, context: Annotated[Context, TaskiqDepends()]
) -> str:
    """Store one Telegram update (the webhook's JSON body; a decoded dict is accepted too):
    message, user, profile and event in one transaction."""
    outcome = await save(context.state.runtime, context.broker, update)
    log.info("update: %s", outcome)
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


def build_broker(settings: IngestionSettings) -> JobBroker:
    broker = make_job_broker(settings)
    runtime = WorkerRuntime(settings)
    runtime.attach(broker)
    broker.state.runtime = runtime
    broker.register_task(save_telegram_message, task_name=SAVE_TELEGRAM_MESSAGE)
    broker.register_task(release_parked, task_name=RELEASE_PARKED)
    return broker


broker = build_broker(IngestionSettings())
