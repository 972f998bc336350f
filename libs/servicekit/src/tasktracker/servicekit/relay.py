"""Publishes a service's outbox rows to JetStream, in outbox order, one relay at a time.

Leadership is a PostgreSQL session advisory lock held on the relay's own connection: if the
process dies the connection closes and another relay takes over. The leader LISTENs on the
outbox channel, so a commit wakes it at once; the poll interval is only a fallback.

Publishes are pipelined: a batch of rows is sent in outbox order on the one NATS connection
and the PubAcks are awaited together, instead of one round trip per row.

A crash between publishing and marking a row re-publishes it on the next pass; JetStream's
duplicate window (the envelope id is the `Nats-Msg-Id`) and idempotent consumers absorb it.

Failures: NATS being away is waited out, in order — nothing behind the first unpublished row
overtakes it. A row that can never be published (too large for NATS, a subject outside the
event stream) is marked failed and logged, so one bad row cannot block a service's events
forever. Any database error ends the connection and the relay reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import asyncpg
from nats.errors import BadSubjectError, MaxPayloadError
from nats.js import JetStreamContext

from tasktracker.contracts.subjects import STREAM_SUBJECT
from tasktracker.servicekit import tracing
from tasktracker.servicekit.db import asyncpg_dsn
from tasktracker.servicekit.metrics import (
    OUTBOX_OLDEST,
    OUTBOX_WAITING,
    RELAY_FAILURES,
    RELAY_PUBLISH_DURATION,
    RELAY_PUBLISHED,
)
from tasktracker.servicekit.outbox import NOTIFY_CHANNEL, OUTBOX_TABLE

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 0x7454_6F62  # "tTob": advisory locks are per database, one outbox each
PUBLISHED_RETENTION = "1 day"
PRUNE_EVERY_SECONDS = 60.0  # how often rows published longer ago than that are deleted
PRUNE_CHUNK = 10_000  # at most this many per statement: each stays well inside the timeout
PRUNE_PUBLISHED = (
    f"DELETE FROM {OUTBOX_TABLE} WHERE seq = ANY(ARRAY(SELECT seq FROM {OUTBOX_TABLE} "
    f"WHERE published_at < now() - interval '{PUBLISHED_RETENTION}' LIMIT $1))"
)
STREAM_PREFIX = STREAM_SUBJECT.removesuffix(">")
CONNECTION_SETTINGS = {
    # Detect a dead or half-open database connection instead of waiting on it forever.
    "tcp_keepalives_idle": "15",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    # Plan each statement for its own arguments and the table as it is. The relay's first
    # passes run on a new, near-empty outbox, where reading the whole table is cheapest; the
    # generic plan PostgreSQL then keeps for the prepared statement read every row published
    # in the last day on each pass, until autovacuum next analyzed the table (every pass of
    # a minute-old stack at 500 events/s read 5,300 rows to mark a few).
    "plan_cache_mode": "force_custom_plan",
}


class PublishFailed(Exception):
    """NATS did not take a row; the relay retries later, in order."""


class OutboxRelay:
    def __init__(
        self,
        *,
        database_url: str,
        js: JetStreamContext,
        batch_size: int = 200,
        poll_seconds: float = 5.0,
        publish_timeout: float = 5.0,
        command_timeout: float = 30.0,
        service: str = "service",
        sample_seconds: float = 10.0,
        prune_chunk: int = PRUNE_CHUNK,
    ) -> None:
        self._service = service
        self._sample_seconds = sample_seconds  # how often the waiting rows are counted
        self._sampled_at = -sample_seconds
        self._prune_at = 0.0  # monotonic: when published rows are next pruned
        self._prune_chunk = prune_chunk
        self._dsn = asyncpg_dsn(database_url)
        self._js = js
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._publish_timeout = publish_timeout
        self._command_timeout = command_timeout
        self._wake = asyncio.Event()
        self.leading = asyncio.Event()  # set while this relay holds the leadership lock

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self._dsn,
            command_timeout=self._command_timeout,
            server_settings=CONNECTION_SETTINGS,
        )

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        """Publish every publishable row in order. Returns the count published.

        Raises PublishFailed (after marking what went out) when NATS does not take a row.
        """
        total = 0
        while True:
            rows = await conn.fetch(
                f"SELECT seq, event_id, subject, payload FROM {OUTBOX_TABLE} "
                "WHERE published_at IS NULL AND failed_at IS NULL ORDER BY seq LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return total
            published: list[int] = []
            try:
                await self._publish_rows(conn, rows, published)
            finally:
                if published:
                    await conn.execute(
                        f"UPDATE {OUTBOX_TABLE} SET published_at = now() WHERE seq = ANY($1)",
                        published,
                    )
            total += len(published)

    async def _publish_rows(
        self, conn: asyncpg.Connection, rows: list[asyncpg.Record], published: list[int]
    ) -> None:
        """Pipelined: every row is sent, in order on the one connection (so JetStream stores
        them in that order), before the PubAcks are awaited together. `published` gets the
        rows acknowledged before the first that was not; the rows after it go out again with
        it on the next pass (the duplicate window drops those that were stored)."""
        sent: list[tuple[asyncpg.Record, asyncio.Future[object]]] = []
        failure: tuple[asyncpg.Record, Exception] | None = None
        try:
            for row in rows:
                try:
                    ack = await self._send(row)
                except (MaxPayloadError, BadSubjectError) as exc:
                    log.error(
                        "outbox row %s can never be published, marked failed: %r", row["seq"], exc
                    )
                    await self._record_failure(conn, row["seq"], exc, permanent=True)
                    RELAY_FAILURES.labels(self._service, "permanent").inc()
                    continue
                except Exception as exc:
                    failure = (row, exc)
                    break
                sent.append((row, ack))
            if sent:
                started = time.perf_counter()
                await asyncio.wait([ack for _, ack in sent], timeout=self._publish_timeout)
                RELAY_PUBLISH_DURATION.labels(self._service).observe(time.perf_counter() - started)
            for row, ack in sent:
                if ack.done() and not ack.cancelled() and ack.exception() is None:
                    published.append(row["seq"])
                    continue
                failure = (row, _publish_error(ack))
                break
        finally:
            for _, ack in sent:
                ack.cancel()  # no-op when done; frees the pending slot of one not answered
        RELAY_PUBLISHED.labels(self._service).inc(len(published))
        if failure is not None:
            RELAY_FAILURES.labels(self._service, "retried").inc()
            row, exc = failure
            await self._record_failure(conn, row["seq"], exc, permanent=False)
            raise PublishFailed(repr(exc)) from exc

    def _max_payload(self) -> int:
        client = getattr(self._js, "_nc", None)  # the connection the context publishes on
        return getattr(client, "max_payload", None) or 1024**2

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[object]:
        """Send one row; the future of its PubAck."""
        subject = row["subject"]
        if not subject.startswith(STREAM_PREFIX):
            raise BadSubjectError(f"{subject!r} is outside the event stream {STREAM_SUBJECT}")
        # Checked here: raised inside publish_async, it would leave that call's PubAck future
        # (and its slot of pending publishes) behind for good.
        if len(row["payload"]) > self._max_payload():
            raise MaxPayloadError
        # No `wait_stall`: with one, nats-py waits for its pending slot through
        # asyncio.wait_for, a task per row (Python 3.11), and the loop flushed every row to
        # the socket alone. A batch never fills the context's 4,000 slots (settings: at most
        # 1,000 rows; unanswered ones are cancelled), so the slot is there at once.
        payload = bytes(row["payload"])
        headers = {"Nats-Msg-Id": str(row["event_id"])}
        if not tracing.enabled():
            return await self._js.publish_async(subject, payload, headers=headers)
        with tracing.span(
            f"publish {subject}",
            parent=_trace_context(payload),
            kind=tracing.SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.message.id": headers["Nats-Msg-Id"]},
        ):
            return await self._js.publish_async(subject, payload, headers=headers)

    async def _record_failure(
        self, conn: asyncpg.Connection, seq: int, exc: Exception, *, permanent: bool
    ) -> None:
        await conn.execute(
            f"UPDATE {OUTBOX_TABLE} SET attempts = attempts + 1, last_error = $2, "
            "failed_at = CASE WHEN $3 THEN now() END WHERE seq = $1",
            seq,
            repr(exc)[:2000],
            permanent,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set: wait for leadership, then publish on every wake-up.
        Any error of the database connection ends it; the relay then connects again."""
        while not stop.is_set():
            try:
                await self._lead(stop)
            except Exception as exc:
                log.warning("outbox relay lost its database connection: %r", exc)
            finally:
                self.leading.clear()
            await _sleep_unless(stop, 1.0)

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await self.connect()
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                await self.sample_waiting(conn)
                if await _sleep_unless(stop, self._poll_seconds):
                    return
            self.leading.set()
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            # A connection lost while idle would go unnoticed until the next poll.
            conn.add_termination_listener(lambda *_: self._wake.set())
            while not stop.is_set():
                self._wake.clear()
                await self.sample_waiting(conn)  # before: a stuck outbox shows its backlog
                try:
                    await self.publish_pending(conn)
                except PublishFailed as exc:  # NATS away: wait it out, keep the order
                    log.warning("outbox relay could not publish: %s", exc)
                    await _sleep_unless(stop, 1.0)
                    continue
                if time.monotonic() >= self._prune_at:
                    pruned = await self.prune_published(conn)
                    # A full chunk leaves more behind: the next pass goes on with it.
                    wait = 0.0 if pruned == self._prune_chunk else PRUNE_EVERY_SECONDS
                    self._prune_at = time.monotonic() + wait
                await _wait_any(self._wake, stop, self._poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def prune_published(self, conn: asyncpg.Connection) -> int:
        """Delete up to `prune_chunk` rows published over PUBLISHED_RETENTION ago; how many.

        The outbox keeps a day of published events: 86 million rows at 1,000 events/s. A scan
        of them all would outlast the connection's command timeout, and the relay, reconnecting,
        would try again on its first pass, publishing a batch per timeout. The BRIN index on
        `published_at` (`outbox.PRUNING_INDEX`, cheap to keep: rows are published in
        about the order they were written) leads to the old rows' pages alone, and the
        chunk bounds each statement."""
        status = await conn.execute(PRUNE_PUBLISHED, self._prune_chunk)
        return int(status.split()[-1])

    async def sample_waiting(self, conn: asyncpg.Connection, *, now: bool = False) -> None:
        """Count the unpublished rows and the oldest one's age, at most every
        `sample_seconds` (a scrape never queries the database)."""
        if not now and time.monotonic() - self._sampled_at < self._sample_seconds:
            return
        self._sampled_at = time.monotonic()
        waiting, oldest = await conn.fetchrow(
            f"SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
            f"FROM {OUTBOX_TABLE} WHERE published_at IS NULL AND failed_at IS NULL"
        )
        OUTBOX_WAITING.labels(self._service).set(waiting)
        OUTBOX_OLDEST.labels(self._service).set(float(oldest))


def _trace_context(payload: bytes) -> dict[str, str] | None:
    """The envelope's `trace_context` (read only while tracing is on)."""
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(payload).get("trace_context")
    return None


def _publish_error(ack: asyncio.Future[object]) -> Exception:
    if not ack.done():
        return TimeoutError("no PubAck in time")
    if ack.cancelled():
        return RuntimeError("publish cancelled")
    error = ack.exception()
    return error if isinstance(error, Exception) else RuntimeError(repr(error))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
