"""What a TaskIQ worker process holds: its database and its own outbox relay.

Relays elect one leader per database, so events a worker commits are published even when no
API process of the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from taskiq import TaskiqEvents, TaskiqState

from tasktracker.servicekit import db
from tasktracker.servicekit.jobs import JobBroker
from tasktracker.servicekit.natsconn import connect
from tasktracker.servicekit.relay import OutboxRelay
from tasktracker.servicekit.settings import ServiceSettings
from tasktracker.servicekit.stream import ensure_space_stream


class WorkerRuntime:
    """Started on the worker's startup event, stopped on its shutdown event."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._nats: Client | None = None
        self._stop = asyncio.Event()
        self._relay: asyncio.Task[None] | None = None

    def attach(self, broker: JobBroker) -> None:
        broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, self.start)
        broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, self.stop)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("the worker has not started")
        return self._sessions

    async def start(self, state: TaskiqState | None = None) -> None:
        self.engine = db.create_engine(self.settings.database_url)
        self._sessions = db.session_factory(self.engine)
        if self.settings.relay_enabled:
            self._nats = await connect(
                self.settings.nats_url, f"{self.settings.service_name}-worker"
            )
            js = self._nats.jetstream()
            await ensure_space_stream(js, self.settings)
            relay = OutboxRelay(
                database_url=self.settings.database_url,
                js=js,
                batch_size=self.settings.relay_batch_size,
                poll_seconds=self.settings.relay_poll_seconds,
            )
            self._relay = asyncio.create_task(relay.run(self._stop), name="relay")

    async def stop(self, state: TaskiqState | None = None) -> None:
        self._stop.set()
        if self._relay is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._relay, 5)
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.close()
        if self.engine is not None:
            await self.engine.dispose()
