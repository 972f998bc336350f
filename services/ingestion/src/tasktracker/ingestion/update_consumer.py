"""The worker's consumer of the updates stream: servicekit's `BatchConsumer` on the durable
`updates_durable`, run beside the TaskIQ jobs in the worker process.

A fetch of up to `store_batch_max_items` updates (topped up once after
`store_batch_linger_seconds` when it brought fewer) is parsed, one update at a time, and
stored in one transaction (`ingest_batch`: stream order is arrival order, which keeps each
chat's order; versions, supersede and idempotency are decided there, so a redelivered update
changes nothing). Each message is acknowledged after the commit. Servicekit does the rest: a
database outage hands the batch back and fetches nothing until it is over; a batch PostgreSQL
refuses is stored one update at a time, and an update that still fails is tried again with
backoff, up to `job_max_retries` deliveries, then parked — on the job dead-letter stream, as
the `save_telegram_message` job it once was, so `requeue-parked` brings it back like any
parked job — without holding back the updates behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncSession
from taskiq import TaskiqMessage

from tasktracker.ingestion.ingest import PreparedUpdate, ingest_batch, prepare
from tasktracker.ingestion.queue import SAVE_TELEGRAM_MESSAGE, enqueue_release
from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.ingestion.updates import MSG_ID_HEADER, TRACE_HEADERS
from tasktracker.servicekit.consumers import BatchConsumer, ConsumerOptions, EventConsumers
from tasktracker.servicekit.jobs import JobBroker
from tasktracker.servicekit.worker import WorkerRuntime

log = logging.getLogger(__name__)

# How long a fetch waits for a first update. It returns as soon as one is there, so this only
# sets how often an idle worker asks JetStream again (as the read models' consumers do).
IDLE_FETCH_WAIT_SECONDS = 0.2


@dataclass(frozen=True)
class FetchedUpdate:
    update: PreparedUpdate
    trace_context: dict[str, str] | None


def decode_update(msg: Msg) -> FetchedUpdate | None:
    """The update parsed once; None (logged, acknowledged) for bytes that are no JSON object,
    which the webhook never publishes."""
    try:
        update = prepare(msg.data)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        log.error("skipping stream sequence %d: no update: %r", msg.metadata.sequence.stream, exc)
        return None
    headers = msg.headers or {}
    trace = {name: headers[name] for name in TRACE_HEADERS if name in headers}
    return FetchedUpdate(update, trace or None)


class UpdateStore:
    """Stores a fetched batch (the consumer's handler) and parks an update that keeps failing
    (its `park`), both through the worker's job broker: a newly bound chat's parked updates
    are released by a job, and the dead-letter stream is the jobs'."""

    def __init__(self, broker: JobBroker) -> None:
        self.broker = broker

    async def store(self, session: AsyncSession, batch: list[FetchedUpdate]) -> None:
        release = partial(enqueue_release, self.broker)
        await ingest_batch(session, [fetched.update for fetched in batch], release=release)

    async def park(self, msg: Msg, fetched: FetchedUpdate, error: BaseException) -> None:
        task_id = (msg.headers or {}).get(MSG_ID_HEADER) or f"update-{msg.metadata.sequence.stream}"
        body = msg.data.decode("utf-8-sig", errors="surrogateescape")
        job = TaskiqMessage(
            task_id=task_id, task_name=SAVE_TELEGRAM_MESSAGE, labels={}, args=[body], kwargs={}
        )
        await self.broker.park(job, error)


def update_consumer(
    settings: IngestionSettings, runtime: WorkerRuntime, broker: JobBroker
) -> BatchConsumer[FetchedUpdate]:
    options = ConsumerOptions(
        durable=settings.updates_durable,
        subject=settings.updates_subject,
        batch_size=settings.store_batch_max_items,
        fetch_wait_seconds=max(settings.store_batch_linger_seconds, IDLE_FETCH_WAIT_SECONDS),
        linger_seconds=settings.store_batch_linger_seconds,
        ack_wait_seconds=settings.job_ack_wait_seconds,
        outage_delay_seconds=max(settings.job_retry_delay_seconds, 0.1),
        outage_max_delay_seconds=settings.job_outage_max_delay_seconds,
        max_tries=settings.job_max_retries,
        retry_delay_seconds=settings.job_retry_delay_seconds,
        retry_max_delay_seconds=settings.job_retry_max_delay_seconds,
    )
    store = UpdateStore(broker)
    return BatchConsumer(
        settings.updates_stream,
        options,
        store.store,
        runtime.sessions,
        decode=decode_update,
        trace_context=lambda fetched: fetched.trace_context,
        park=store.park,
    )


def update_consumers(
    settings: IngestionSettings, broker: JobBroker
) -> Callable[[WorkerRuntime], EventConsumers]:
    """What the worker runtime starts on its NATS connection once it has a database."""

    def build(runtime: WorkerRuntime) -> EventConsumers:
        consumer = update_consumer(settings, runtime, broker)
        return EventConsumers(settings.nats_url, f"{settings.service_name}-updates", [consumer])

    return build
