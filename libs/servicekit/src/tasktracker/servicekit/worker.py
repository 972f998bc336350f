"""What a TaskIQ worker process holds: its database and its own outbox relay; and the
receiver that hands fetched jobs to taskiq.

Relays elect one leader per database, so events a worker commits are published even when no
API process of the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from nats.aio.client import Client
from nats.js.api import StreamConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from taskiq import AckableMessage, TaskiqEvents, TaskiqState
from taskiq.receiver import Receiver

from tasktracker.servicekit import db, heap
from tasktracker.servicekit.consumers import EventConsumers
from tasktracker.servicekit.jobs import JobBroker
from tasktracker.servicekit.lag import ConsumerLagSampler
from tasktracker.servicekit.metrics import serve_worker_metrics
from tasktracker.servicekit.natsconn import connect
from tasktracker.servicekit.relay import OutboxRelay
from tasktracker.servicekit.settings import ServiceSettings
from tasktracker.servicekit.stream import ensure_space_stream, ensure_stream


class JobReceiver(Receiver):
    """taskiq's Receiver, taking every job a `JobBroker` fetched at once.

    taskiq's prefetcher takes one message per trip through the event loop (a task for the
    delivery slot and one for the next message, each awaited with `asyncio.wait`), so the jobs
    of a fetch reach the runner one loop iteration after another. In a busy worker that was
    1.5 to 4 ms per job, serially: 250 to 600 jobs/s at most, however idle the CPU, and a 500/s
    webhook load queued up for seconds. While a delivery slot is free and the broker holds
    fetched jobs, they are taken here without waiting; else taskiq's own path runs (it awaits
    the next fetch and the shutdown signal).

    `_get_prefetched_message` is taskiq's (0.13) and not public: `test_jobs.py::
    test_a_fetched_batch_reaches_the_runner_at_once` fails if it stops being called.
    """

    async def _get_prefetched_message(
        self, state: Any, finish_event: asyncio.Event, finish_waiter: asyncio.Task[bool]
    ) -> bytes | AckableMessage | None:
        broker = self.broker
        if (
            isinstance(broker, JobBroker)
            and not finish_event.is_set()
            and not self.sem_prefetch.locked()
            and (message := broker.take_ready()) is not None
        ):
            await self.sem_prefetch.acquire()  # free: returns at once
            state.owns_delivery_slot = True
            return message
        return await super()._get_prefetched_message(state, finish_event, finish_waiter)


class WorkerRuntime:
    """Started on the worker's startup event, stopped on its shutdown event.

    `consumers`, given the started runtime (its `sessions`), builds batch consumers that run
    beside the jobs on the runtime's NATS connection; `streams` are created when missing
    before they start. Stopping lets their batches in hand finish before the database goes.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        consumers: Callable[[WorkerRuntime], EventConsumers] | None = None,
        streams: Sequence[StreamConfig] = (),
    ) -> None:
        self.settings = settings
        self._build_consumers = consumers
        self.streams = list(streams)
        self.consumers: EventConsumers | None = None
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._nats: Client | None = None
        self._stop = asyncio.Event()
        self._relay: asyncio.Task[None] | None = None
        self._lag: asyncio.Task[None] | None = None

    def attach(self, broker: JobBroker) -> None:
        broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, self.start)
        # the consumers may kick jobs and park on the broker's connection: they stop first
        broker.before_close(self.stop_consumers)
        broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, self.stop)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("the worker has not started")
        return self._sessions

    async def start(self, state: TaskiqState | None = None) -> None:
        if self.settings.worker_metrics_port:
            serve_worker_metrics(self.settings.worker_metrics_port, self.settings.host)
        # No ping per checkout: a worker checks out a connection per transaction (the
        # ingestion worker per stored batch), and the ping was a round trip in each. A job
        # that meets a dropped connection fails as an outage: it spends no try, is handed back
        # and runs again on a fresh connection.
        self.engine = db.create_engine(self.settings.database_url, pre_ping=False)
        self._sessions = db.session_factory(self.engine)
        if self.settings.relay_enabled or self._build_consumers is not None:
            self._nats = await connect(
                self.settings.nats_url,
                f"{self.settings.service_name}-worker",
                **self.settings.nats_credentials(),
            )
            js = self._nats.jetstream()
            await ensure_space_stream(js, self.settings)
            for stream in self.streams:
                await ensure_stream(js, stream)
            if self.settings.relay_enabled:
                relay = OutboxRelay(
                    database_url=self.settings.database_url,
                    js=js,
                    batch_size=self.settings.relay_batch_size,
                    poll_seconds=self.settings.relay_poll_seconds,
                    service=self.settings.service_name,
                )
                self._relay = asyncio.create_task(relay.run(self._stop), name="relay")
            # the job queue's lag: jobs waiting in the stream, jobs in flight
            jobs = [(self.settings.jobs_stream, self.settings.jobs_durable)]
            lag = ConsumerLagSampler(js, jobs)
            self._lag = asyncio.create_task(lag.run(self._stop), name="job lag")
            if self._build_consumers is not None:
                self.consumers = self._build_consumers(self)
                await self.consumers.start(js)
        heap.freeze_startup_heap()

    async def stop_consumers(self) -> None:
        """The batch in hand is stored and acked, or handed back; nothing more is fetched."""
        if self.consumers is not None:
            await self.consumers.stop()
            self.consumers = None

    async def stop(self, state: TaskiqState | None = None) -> None:
        self._stop.set()
        await self.stop_consumers()
        if self._relay is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._relay, 5)
        if self._lag is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._lag, 5)
        if self._nats is not None:
            with contextlib.suppress(Exception):
                await self._nats.close()
        if self.engine is not None:
            await self.engine.dispose()
