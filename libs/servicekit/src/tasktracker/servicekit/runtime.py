"""What a service process holds while it runs: database, NATS, relay, brokers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence

from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tasktracker.servicekit import db
from tasktracker.servicekit.health import ReadinessCheck
from tasktracker.servicekit.jobs import JobBroker
from tasktracker.servicekit.natsconn import connect, nats_check
from tasktracker.servicekit.relay import OutboxRelay
from tasktracker.servicekit.settings import ServiceSettings
from tasktracker.servicekit.stream import ensure_space_stream, ensure_stream

log = logging.getLogger(__name__)


class ServiceRuntime:
    """Starts and stops, in order, everything a service's API process needs.

    `event_broker` (FastStream) subscribes to facts; `job_broker` (TaskIQ) is started here
    only to kick jobs — workers run in their own process. With `database_required=False` (an
    API whose essential route needs only NATS, like a webhook that queues jobs) a PostgreSQL
    outage is reported by `/readyz` but does not take the process out of service. `streams`:
    the service's own streams besides `space.>`, created at start when missing.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        event_broker: NatsBroker | None = None,
        job_broker: JobBroker | None = None,
        database_required: bool = True,
        streams: Sequence[StreamConfig] = (),
    ) -> None:
        self.settings = settings
        self.streams = list(streams)
        self.database_required = database_required
        self.event_broker = event_broker
        self.job_broker = job_broker
        self.engine: AsyncEngine = db.create_engine(settings.database_url)
        self.sessions: async_sessionmaker[AsyncSession] = db.session_factory(self.engine)
        # The event consumers' batches (`consumers.BatchConsumer`): a pool without pre-ping,
        # as a batch that meets a dead connection is handed back and stored again on a new one.
        self.consumer_engine: AsyncEngine = db.create_engine(settings.database_url, pre_ping=False)
        self.consumer_sessions: async_sessionmaker[AsyncSession] = db.session_factory(
            self.consumer_engine
        )
        self.nats: Client | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self._stop = asyncio.Event()
        self._relay_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.nats = await connect(
            self.settings.nats_url,
            self.settings.service_name,
            **self.settings.nats_credentials(),
        )
        self.js = self.nats.jetstream()
        await ensure_space_stream(self.js, self.settings)
        for stream in self.streams:
            await ensure_stream(self.js, stream)
        if self.settings.relay_enabled:
            self.relay = OutboxRelay(
                database_url=self.settings.database_url,
                js=self.js,
                batch_size=self.settings.relay_batch_size,
                poll_seconds=self.settings.relay_poll_seconds,
                service=self.settings.service_name,
            )
            self._relay_task = asyncio.create_task(self.relay.run(self._stop), name="relay")
        if self.job_broker is not None and not self.job_broker.is_worker_process:
            await self.job_broker.startup()
        if self.event_broker is not None:
            await self.event_broker.start()

    async def stop(self) -> None:
        """Stop everything, each part even when another fails (e.g. NATS is down)."""
        self._stop.set()
        if self.event_broker is not None:
            await _quietly(self.event_broker.stop(), "event broker")
        if self.job_broker is not None and not self.job_broker.is_worker_process:
            await _quietly(self.job_broker.shutdown(), "job broker")
        if self._relay_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._relay_task, 5)
        if self.nats is not None:
            await _quietly(self.nats.drain(), "NATS connection")
        await self.engine.dispose()
        await self.consumer_engine.dispose()

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {}
        if self.database_required:
            checks["postgres"] = self._ping_database
        if self.nats is not None:
            checks["nats"] = nats_check(self.nats)
        if self._relay_task is not None:
            checks["relay"] = self._relay_alive
        return checks

    def optional_checks(self) -> dict[str, ReadinessCheck]:
        return {} if self.database_required else {"postgres": self._ping_database}

    async def _ping_database(self) -> None:
        await db.ping(self.engine)

    async def _relay_alive(self) -> None:
        if self._relay_task is None or self._relay_task.done():
            raise RuntimeError("the outbox relay is not running")


async def _quietly(closing: Awaitable[object], what: str) -> None:
    try:
        await asyncio.wait_for(closing, 10)
    except Exception as exc:
        log.warning("could not stop the %s cleanly: %r", what, exc)
