"""Publishes a service's outbox rows to JetStream, in outbox order, one relay at a time.

Leadership is a PostgreSQL session advisory lock held on the relay's own connection: if the
process dies the connection closes and another relay takes over. The leader LISTENs on the
outbox channel, so a commit wakes it at once; the poll interval is only a fallback.

A crash between publishing and marking a row re-publishes it on the next pass; JetStream's
duplicate window (the envelope id is the `Nats-Msg-Id`) and idempotent consumers absorb it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from nats.js import JetStreamContext

from tasktracker.servicekit.db import asyncpg_dsn
from tasktracker.servicekit.outbox import NOTIFY_CHANNEL, OUTBOX_TABLE

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 0x7454_6F62  # "tTob": advisory locks are per database, one outbox each
PUBLISHED_RETENTION = "1 day"


class OutboxRelay:
    def __init__(
        self,
        *,
        database_url: str,
        js: JetStreamContext,
        batch_size: int = 200,
        poll_seconds: float = 5.0,
        publish_timeout: float = 5.0,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._js = js
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self.leading = asyncio.Event()  # set while this relay holds the leadership lock

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        """Publish every unpublished row in order; stop at the first failure. Returns count."""
        total = 0
        while True:
            rows = await conn.fetch(
                f"SELECT seq, event_id, subject, payload FROM {OUTBOX_TABLE} "
                "WHERE published_at IS NULL ORDER BY seq LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return total
            published: list[int] = []
            try:
                for row in rows:
                    await self._js.publish(
                        row["subject"],
                        bytes(row["payload"]),
                        timeout=self._publish_timeout,
                        headers={"Nats-Msg-Id": str(row["event_id"])},
                    )
                    published.append(row["seq"])
            except Exception as exc:
                failed_seq = rows[len(published)]["seq"]
                await conn.execute(
                    f"UPDATE {OUTBOX_TABLE} SET attempts = attempts + 1, last_error = $2 "
                    "WHERE seq = $1",
                    failed_seq,
                    repr(exc)[:2000],
                )
                raise
            finally:
                if published:
                    await conn.execute(
                        f"UPDATE {OUTBOX_TABLE} SET published_at = now() WHERE seq = ANY($1)",
                        published,
                    )
            total += len(published)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set: wait for leadership, then publish on every wake-up."""
        while not stop.is_set():
            try:
                await self._lead(stop)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("outbox relay lost its database connection: %s", exc)
            finally:
                self.leading.clear()
            await _sleep_unless(stop, 1.0)

    async def _lead(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                if await _sleep_unless(stop, self._poll_seconds):
                    return
            self.leading.set()
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            passes = 0
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.publish_pending(conn)
                except asyncpg.PostgresError:
                    raise
                except Exception as exc:  # NATS down or stream missing: retry later, in order
                    log.warning("outbox relay could not publish: %r", exc)
                    await _sleep_unless(stop, 1.0)
                    continue
                passes += 1
                if passes % 1000 == 1:
                    await conn.execute(
                        f"DELETE FROM {OUTBOX_TABLE} WHERE published_at < now() - interval "
                        f"'{PUBLISHED_RETENTION}'"
                    )
                await _wait_any(self._wake, stop, self._poll_seconds)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


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
