"""The ingestion service's TaskIQ broker and jobs (run with `tasktracker-ingestion worker`).

The worker also runs an outbox relay: relays elect one leader per database, so events a
worker commits are published even when no API process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from taskiq import Context, TaskiqDepends, TaskiqEvents, TaskiqState

from tasktracker.ingestion.ingest import Outcome, ingest_update
from tasktracker.ingestion.queue import SAVE_TELEGRAM_MESSAGE
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.jobs import JobBroker, make_job_broker
from tasktracker.servicekit.natsconn import connect
from tasktracker.servicekit.relay import OutboxRelay
from tasktracker.servicekit.stream import ensure_space_stream

log = logging.getLogger(__name__)


class WorkerResources:
    """The database and relay a worker process holds between startup and shutdown."""

    def __init__(self, settings: IngestionSettings) -> None:
        self.settings = settings
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self._nats: Client | None = None
        self._stop = asyncio.Event()
        self._relay: asyncio.Task[None] | None = None

    async def start(self, state: TaskiqState) -> None:
        state.ingestion = self
        self.engine = db.create_engine(self.settings.database_url)
        self.sessions = db.session_factory(self.engine)
        if self.settings.relay_enabled:
            name = f"{self.settings.service_name}-worker"
            self._nats = await connect(self.settings.nats_url, name)
            js = self._nats.jetstream()
            await ensure_space_stream(js, self.settings)
            relay = OutboxRelay(
                database_url=self.settings.database_url,
                js=js,
                batch_size=self.settings.relay_batch_size,
                poll_seconds=self.settings.relay_poll_seconds,
            )
            self._relay = asyncio.create_task(relay.run(self._stop), name="relay")

    async def stop(self, state: TaskiqState) -> None:
        self._stop.set()
        if self._relay is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._relay, 5)
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.close()
        if self.engine is not None:
            await self.engine.dispose()

    async def save(self, payload: dict[str, Any]) -> Outcome:
        assert self.sessions is not None, "the worker has not started"
        async with db.transaction(self.sessions) as session:
            return await ingest_update(session, payload)


async def save_telegram_message(
    update: dict[str, Any], context: Annotated[Context, TaskiqDepends()]
) -> str:
    """Store one Telegram update: message, user, profile and event in one transaction."""
    resources: WorkerResources = context.state.ingestion
    outcome = await resources.save(update)
    log.info("update %s: %s", update.get("update_id"), outcome)
    return str(outcome)


def build_broker(settings: IngestionSettings) -> JobBroker:
    broker = make_job_broker(settings)
    resources = WorkerResources(settings)
    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, resources.start)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, resources.stop)
    broker.register_task(save_telegram_message, task_name=SAVE_TELEGRAM_MESSAGE)
    return broker


broker = build_broker(IngestionSettings())
