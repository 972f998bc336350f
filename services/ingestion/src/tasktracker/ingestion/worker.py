"""The ingestion service's TaskIQ broker and jobs (run with `tasktracker-ingestion worker`)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from taskiq import Context, TaskiqDepends

from tasktracker.ingestion.ingest import Outcome, ingest_update
from tasktracker.ingestion.queue import SAVE_TELEGRAM_MESSAGE
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)


async def save(runtime: WorkerRuntime, payload: dict[str, Any]) -> Outcome:
    async with db.transaction(runtime.sessions) as session:
        return await ingest_update(session, payload)


async def save_telegram_message(
    update: dict[str, Any], context: Annotated[Context, TaskiqDepends()]
) -> str:
    """Store one Telegram update: message, user, profile and event in one transaction."""
    outcome = await save(context.state.runtime, update)
    log.info("update %s: %s", update.get("update_id"), outcome)
    return str(outcome)


def build_broker(settings: IngestionSettings) -> JobBroker:
    broker = make_job_broker(settings)
    runtime = WorkerRuntime(settings)
    runtime.attach(broker)
    broker.state.runtime = runtime
    broker.register_task(save_telegram_message, task_name=SAVE_TELEGRAM_MESSAGE)
    return broker


broker = build_broker(IngestionSettings())
