"""Batch consumers of JetStream streams: durable pull consumers that store a batch of
messages in one transaction and acknowledge it after the commit. Events of the `space.>`
stream by default (decoded into their envelopes); any other message with a `decode` of its own
(ingestion's raw webhook updates).

One fetch per batch on JetStream's pull API (`pull.PullFetcher`, cheaper per message than
nats-py's `PullSubscription.fetch`): FastStream 0.7's batch loop (several short fetches per
batch) was seen to lose fetched batches under load, which JetStream then redelivered only
after `ack_wait`.

* The stream is never created or changed here (DESIGN.md §2); the durable consumer is
  created or updated with the configured filter subjects, `ack_wait` and start time.
* A fetch returns as soon as there are messages, or empty after `fetch_wait_seconds`. One
  that returns less than a batch can be topped up: with `linger_seconds` the consumer waits
  until that long after the fetch began, then takes what arrived meanwhile (up to the batch
  size, without waiting for more), so a steady flow is stored in one transaction per linger
  instead of one per handful of events. An event waits at most the linger (one that finds the
  consumer idle, not at all: the fetch that returns it began long before). A full fetch (a
  backlog) is never held back.
* A fetch JetStream does not answer (NATS away, the consumer deleted) looks the consumer up
  again, creating it when it is gone.
* Each message is decoded once (events: in one pass with the payload model its subject names,
  `decode_published`); one that does not decode is logged and acknowledged (never retried).
* While the database is unreachable the batch is handed back with a delay that doubles up to
  a maximum, and nothing new is fetched meanwhile (no tight loop of failing connections).
* A batch PostgreSQL refuses is stored one message at a time; one that still fails is handed
  back for another try after a doubling delay while it has tries left (`max_tries`, counted
  by JetStream's deliveries), else it is parked: given to `park` (ingestion: its dead-letter
  stream) or, without one, logged with its stream sequence (the `space.>` stream keeps it).
  Either way it is acknowledged and cannot hold back the messages after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoServersError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import EventPayload, decode_published
from tasktracker.servicekit import db, tracing
from tasktracker.servicekit.backoff import OutageBackoff, doubling
from tasktracker.servicekit.job_errors import is_permanent
from tasktracker.servicekit.lag import ConsumerLagSampler
from tasktracker.servicekit.logs import bind_log_context
from tasktracker.servicekit.metrics import CONSUMED_EVENTS, CONSUMER_BATCH_DURATION
from tasktracker.servicekit.pull import NoResponse, PullFetcher, PullRefused

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[AsyncSession, list[T]], Awaitable[None]]
# Parks a message that failed its last try (e.g. on a dead-letter stream); raises when it
# cannot, and the message is then handed back instead of acknowledged.
Park = Callable[[Msg, T, BaseException], Awaitable[None]]
# NATS being away or the consumer not (yet) there: wait and try again, never give up.
_NATS_TROUBLE = (ConnectionClosedError, NoServersError, ServiceUnavailableError, APIError)


@dataclass(frozen=True)
class ConsumerOptions:
    durable: str
    subject: str  # the filter subject, e.g. `space.*.messages.>`
    # Event types stored; others on the subject are acknowledged without being decoded.
    # One filter subject plus this set, as nats-server 2.9 has no `filter_subjects`.
    event_types: frozenset[str] | None = None
    batch_size: int = 500
    fetch_wait_seconds: float = 0.2
    # A fetch short of `batch_size` is topped up once, this long after it began (0: never).
    linger_seconds: float = 0.0
    ack_wait_seconds: float = 30
    outage_delay_seconds: float = 0.5
    outage_max_delay_seconds: float = 15
    # A message that fails alone is tried again, after a doubling delay, until it has been
    # delivered this often; then parked. 1: parked at its first failure.
    max_tries: int = 1
    retry_delay_seconds: float = 1.0
    retry_max_delay_seconds: float = 60.0
    start_time: datetime | None = None  # where a new consumer starts; None: the whole stream

    def consumer_config(self) -> ConsumerConfig:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_seconds,
            max_ack_pending=self.batch_size * 4,
            filter_subject=self.subject,
        )
        if self.start_time is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = self.start_time.isoformat()
        return config


def retry_delay(options: ConsumerOptions, tries: int) -> float:
    """Before the try after `tries` failed ones: doubling from the base up to the maximum."""
    return doubling(options.retry_delay_seconds, options.retry_max_delay_seconds, tries)


def decode_event(msg: Msg) -> Envelope[EventPayload] | None:
    """The typed envelope, or None (logged) for bytes that are no valid event."""
    try:
        return decode_published(msg.data, msg.subject)
    except ValueError as exc:  # EnvelopeError, InvalidEventError
        log.warning("skipping an invalid event on %s: %s", msg.subject, str(exc)[:300])
        return None
    except LookupError as exc:  # UnknownEventError: a newer producer's event type
        log.info("skipping an event of an unknown type on %s: %s", msg.subject, exc)
        return None


class BatchConsumer(Generic[T]):
    """One durable consumer: fetch, decode, store in one transaction, ack.

    Without `decode`, the messages are `space.>` events (`Envelope`s, only the options'
    `event_types`); with it, whatever it makes of a message (None: skipped). `trace_context`
    gives an item's W3C trace headers, which the batch's span continues; `park` takes a
    message that failed its last try."""

    def __init__(
        self,
        stream: str,
        options: ConsumerOptions,
        handler: Handler[T],
        sessions: async_sessionmaker[AsyncSession],
        *,
        decode: Callable[[Msg], T | None] | None = None,
        trace_context: Callable[[T], Mapping[str, str] | None] | None = None,
        park: Park[T] | None = None,
    ) -> None:
        self.stream = stream
        self.options = options
        self.handler = handler
        self.sessions = sessions
        self.decode: Callable[[Msg], T | None] = decode or self._decode_event  # type: ignore[assignment]
        self.trace_context = trace_context or _envelope_trace_context
        self.park = park
        self.backoff = OutageBackoff(options.outage_delay_seconds, options.outage_max_delay_seconds)

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        bind_log_context(consumer=self.name)  # this task's lines
        # nats-py's own pull subscription reads the context's connection and API prefix too
        fetcher = PullFetcher(js._nc, self.stream, self.options.durable, api_prefix=js._prefix)
        bound = False
        try:
            while not stop.is_set():
                try:
                    if not bound:
                        await self._bind(js, fetcher)
                        bound = True
                    asked = time.monotonic()
                    msgs = await fetcher.fetch(
                        self.options.batch_size, self.options.fetch_wait_seconds
                    )
                    if len(msgs) < self.options.batch_size:
                        linger = self.options.linger_seconds - (time.monotonic() - asked)
                        if linger > 0:
                            msgs += await self._top_up(
                                fetcher, self.options.batch_size - len(msgs), linger, stop
                            )
                    if msgs:
                        await self.handle(msgs, stop)
                except TimeoutError:  # nats-py raises both its own and asyncio's
                    continue
                except (NoResponse, PullRefused, *_NATS_TROUBLE) as error:
                    log.warning("consumer %s: NATS: %r; again shortly", self.name, error)
                    bound = False  # the consumer may be gone: looked up (or created) again
                    await _sleep_unless(stop, 1.0)
                except Exception:  # unacked messages come back after ack_wait; keep consuming
                    log.exception("consumer %s: batch failed", self.name)
                    await _sleep_unless(stop, 1.0)
        finally:
            await fetcher.close()

    async def _top_up(
        self, fetcher: PullFetcher, room: int, linger: float, stop: asyncio.Event
    ) -> list[Msg]:
        """What arrived during the linger, up to `room` messages. One fetch of what is there
        after a sleep, not a loop of fetches: a fetch returns as soon as a message is there,
        so fetching through the linger would cost a round trip per handful of events."""
        await _sleep_unless(stop, linger)
        if stop.is_set():
            return []
        try:
            return await fetcher.fetch(room, None)
        except (NoResponse, PullRefused, *_NATS_TROUBLE):  # the next fetch meets it again
            return []

    async def _bind(self, js: JetStreamContext, fetcher: PullFetcher) -> None:
        # An existing durable is bound as it is: its start position was a new durable's, and
        # the server refuses another start time (nats-py even reads it back rounded to µs),
        # which a restart computing "now" would send. Its settings change by deleting it.
        try:
            await js.consumer_info(self.stream, self.options.durable)
        except NotFoundError:
            await js.add_consumer(self.stream, config=self.options.consumer_config())
        await fetcher.start()  # once; the subscription outlives reconnects

    def _decode_event(self, msg: Msg) -> Envelope[EventPayload] | None:
        wanted = self.options.event_types
        if wanted is not None and _event_type(msg.subject) not in wanted:
            return None
        return decode_event(msg)

    async def handle(self, msgs: list[Msg], stop: asyncio.Event) -> None:
        """Store the batch; every message ends acked, or nak'ed for a later delivery."""
        items: list[tuple[Msg, T]] = []
        for msg in msgs:
            item = self.decode(msg)
            if item is None:
                await msg.ack()
            else:
                items.append((msg, item))
        if skipped := len(msgs) - len(items):
            CONSUMED_EVENTS.labels(self.name, "skipped").inc(skipped)
        started = time.perf_counter()
        try:
            await self._store([item for _, item in items])
        except Exception as error:
            if db.is_database_unavailable(error):
                await self._wait_out(error, [m for m, _ in items], stop)
                return
            log.info("consumer %s: batch refused (%r); one at a time", self.name, error)
            await self._one_by_one(items, stop)
            return
        for msg, _ in items:
            await msg.ack()
        if items:
            CONSUMER_BATCH_DURATION.labels(self.name).observe(time.perf_counter() - started)
            CONSUMED_EVENTS.labels(self.name, "stored").inc(len(items))
        self.backoff.reset()

    @property
    def name(self) -> str:
        return self.options.durable

    async def _store(self, items: list[T]) -> None:
        if not items:
            return
        with tracing.batch_span(
            f"consume {self.name}", (self.trace_context(item) for item in items)
        ):
            async with db.transaction(self.sessions) as session:
                await self.handler(session, items)

    async def _one_by_one(self, items: list[tuple[Msg, T]], stop: asyncio.Event) -> None:
        for index, (msg, item) in enumerate(items):
            try:
                await self._store([item])
            except Exception as error:
                if db.is_database_unavailable(error):
                    await self._wait_out(error, [m for m, _ in items[index:]], stop)
                    return
                await self._retry_or_park(msg, item, error)
                continue
            CONSUMED_EVENTS.labels(self.name, "stored").inc()
            await msg.ack()
        self.backoff.reset()

    async def _retry_or_park(self, msg: Msg, item: T, error: BaseException) -> None:
        """Hand a message that failed alone back for a later try, or park and ack it."""
        tries = msg.metadata.num_delivered or 1
        sequence = msg.metadata.sequence.stream
        if tries < self.options.max_tries and not is_permanent(error):
            delay = retry_delay(self.options, tries)
            log.warning(
                "consumer %s: stream sequence %d failed (try %d, again in %.1f s): %r",
                self.name,
                sequence,
                tries,
                delay,
                error,
            )
            CONSUMED_EVENTS.labels(self.name, "retried").inc()
            await msg.nak(delay=delay)
            return
        log.error(
            "consumer %s: parked stream sequence %d (%s) after %d tries: %r",
            self.name,
            sequence,
            msg.subject,
            tries,
            error,
        )
        if self.park is not None:
            try:
                await self.park(msg, item, error)
            except Exception as park_error:  # not acknowledged: it comes back, is tried again
                log.error("consumer %s: could not park it (%r)", self.name, park_error)
                await msg.nak(delay=retry_delay(self.options, tries))
                return
        CONSUMED_EVENTS.labels(self.name, "poison").inc()
        await msg.ack()

    async def _wait_out(self, error: BaseException, msgs: list[Msg], stop: asyncio.Event) -> None:
        delay = self.backoff.next_delay()
        log.warning(
            "consumer %s: database unavailable (%r); again in %.1f s", self.name, error, delay
        )
        for msg in msgs:
            await msg.nak(delay=delay)
        await _sleep_unless(stop, delay)  # fetch nothing new while the database is away


class EventConsumers:
    """A service's batch consumers, run as tasks of the process (an API's, or the ingestion
    worker's) on a NATS connection of their own unless given one: `start()` and `stop()` as
    the runtime calls them. `stop()` lets the batch in hand finish and be acknowledged."""

    def __init__(
        self,
        nats_url: str,
        client_name: str,
        consumers: Sequence[BatchConsumer],
        lag_sample_seconds: float = 15.0,
        **credentials: Any,  # `NatsSettings.nats_credentials()`
    ):
        self.lag_sample_seconds = lag_sample_seconds
        self.lag: ConsumerLagSampler | None = None
        self.nats_url = nats_url
        self.credentials = credentials
        self.client_name = client_name
        self.consumers = list(consumers)
        self._client: Client | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, js: JetStreamContext | None = None) -> None:
        """On a connection of their own, or on `js`: a process's connection that serves
        other work too (the ingestion worker's), which `stop()` leaves open."""
        self._stop.clear()
        if js is None:
            self._client = await nats.connect(
                self.nats_url,
                name=self.client_name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                **self.credentials,
            )
            js = self._client.jetstream()
        self._tasks = [
            asyncio.create_task(consumer.run(js, self._stop), name=f"consumer {consumer.name}")
            for consumer in self.consumers
        ]
        self.lag = ConsumerLagSampler(
            js, [(c.stream, c.name) for c in self.consumers], self.lag_sample_seconds
        )
        self._tasks.append(asyncio.create_task(self.lag.run(self._stop), name="consumer lag"))

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=30)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("consumer task failed: %r", task.exception())
        self._tasks = []
        if self._client is not None:
            # Every batch in hand is acked or nak'ed by now; `drain` would wait its full
            # timeout on a pull subscription (nats-py), so the connection is just closed.
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _event_type(subject: str) -> str:
    """`space.<project>.<topic>.<event_type>`; an event type may itself hold dots."""
    parts = subject.split(".", 3)
    return parts[3] if len(parts) == 4 else ""


def _envelope_trace_context(envelope: Any) -> Mapping[str, str] | None:
    return envelope.trace_context
