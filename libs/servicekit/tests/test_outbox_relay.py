"""The outbox against real PostgreSQL and real JetStream."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import func, insert, select, text

from tasktracker.contracts.events import ChatBound
from tasktracker.contracts.subjects import space_filter
from tasktracker.devstack.embedded import EmbeddedNats
from tasktracker.servicekit.db import asyncpg_dsn, create_engine, session_factory
from tasktracker.servicekit.migrations import ensure_database
from tasktracker.servicekit.outbox import PRUNING_INDEX, Outbox
from tasktracker.servicekit.relay import PRUNE_PUBLISHED, OutboxRelay
from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream
from tests.fixtures.jetstream import stream_messages as messages_on

from .conftest import metadata, notes, outbox

STAGE = Outbox(outbox, producer="servicekit-test")


async def stage_note(engine, project_id: int, body: str, *, fail: bool = False) -> None:
    async with session_factory(engine)() as session, session.begin():
        await session.execute(insert(notes).values(body=body))
        await STAGE.stage(
            session, ChatBound(chat_id=len(body), released_parked=0), project_id=project_id
        )
        if fail:
            raise RuntimeError("rolled back on purpose")


async def stream_messages(js: JetStreamContext, project_id: int) -> list:
    return await messages_on(js, space_filter(project_id))


async def relay_once(js: JetStreamContext, url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await OutboxRelay(database_url=url, js=js).publish_pending(conn)
    finally:
        await conn.close()


async def test_state_change_and_event_commit_together(engine, js, kit_db_url, project_ids):
    pid = next(project_ids)
    await stage_note(engine, pid, "hello")
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(notes)) == 1
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 1
    assert await relay_once(js, kit_db_url) == 1
    [msg] = await stream_messages(js, pid)
    assert msg.subject == f"space.{pid}.messages.ingestion.chat_bound"
    async with engine.connect() as conn:
        unpublished = (
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
        assert await conn.scalar(unpublished) == 0


async def test_rolled_back_transaction_publishes_nothing(engine, js, kit_db_url, project_ids):
    pid = next(project_ids)
    with pytest.raises(RuntimeError):
        await stage_note(engine, pid, "never", fail=True)
    assert await relay_once(js, kit_db_url) == 0
    assert await stream_messages(js, pid) == []
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(notes)) == 0


async def test_crash_after_commit_publishes_on_next_pass(engine, js, kit_db_url, project_ids):
    """Nothing ran the relay when the change committed (a crash): the next pass publishes."""
    pid = next(project_ids)
    await stage_note(engine, pid, "one")
    await stage_note(engine, pid, "two")
    assert await stream_messages(js, pid) == []
    assert await relay_once(js, kit_db_url) == 2
    assert [m.data for m in await stream_messages(js, pid)] == [
        row async for row in _payloads(engine)
    ]


async def test_row_published_twice_yields_one_stream_message(engine, js, kit_db_url, project_ids):
    """A crash between publish and mark: the row goes out again and JetStream drops it."""
    pid = next(project_ids)
    await stage_note(engine, pid, "once")
    assert await relay_once(js, kit_db_url) == 1
    async with engine.begin() as conn:
        await conn.execute(outbox.update().values(published_at=None))
    assert await relay_once(js, kit_db_url) == 1
    assert len(await stream_messages(js, pid)) == 1


async def test_running_relay_wakes_on_commit(engine, js, kit_db_url, project_ids):
    pid = next(project_ids)
    relay = OutboxRelay(database_url=kit_db_url, js=js, poll_seconds=30)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(relay.leading.wait(), 10)
        await stage_note(engine, pid, "wake")
        for _ in range(100):  # far below the 30 s poll: only NOTIFY can have woken it
            if await stream_messages(js, pid):
                break
            await asyncio.sleep(0.05)
        assert len(await stream_messages(js, pid)) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_only_one_relay_leads(kit_db_url, js):
    stop = asyncio.Event()
    first = OutboxRelay(database_url=kit_db_url, js=js, poll_seconds=0.1)
    second = OutboxRelay(database_url=kit_db_url, js=js, poll_seconds=0.1)
    tasks = [asyncio.create_task(r.run(stop)) for r in (first, second)]
    try:
        await asyncio.sleep(1.0)
        assert [first.is_leader, second.is_leader].count(True) == 1
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def _payloads(engine):
    async with engine.connect() as conn:
        for row in await conn.execute(select(outbox.c.payload).order_by(outbox.c.seq)):
            yield bytes(row.payload)


async def _wait_published(js, pid: int, count: int, within: float = 15.0) -> list:
    async with asyncio.timeout(within):
        while len(found := await stream_messages(js, pid)) < count:
            await asyncio.sleep(0.1)
    return found


async def test_a_row_that_can_never_be_published_does_not_block_the_others(
    engine, js, kit_db_url, project_ids
):
    pid = next(project_ids)
    async with engine.begin() as conn:
        await conn.execute(
            insert(outbox).values(
                event_id=uuid.uuid4(), subject="elsewhere.not.in.the.stream", payload=b"{}"
            )
        )
        await conn.execute(
            insert(outbox).values(
                event_id=uuid.uuid4(), subject=f"space.{pid}.messages.x", payload=b"x" * 2_000_000
            )
        )
    await stage_note(engine, pid, "behind the bad rows")
    assert await relay_once(js, kit_db_url) == 1
    [msg] = await stream_messages(js, pid)
    assert msg.subject == f"space.{pid}.messages.ingestion.chat_bound"
    async with engine.connect() as conn:
        failed = (
            await conn.execute(
                select(outbox.c.subject, outbox.c.last_error).where(outbox.c.failed_at.is_not(None))
            )
        ).all()
    assert {row.subject for row in failed} == {
        "elsewhere.not.in.the.stream",
        f"space.{pid}.messages.x",
    }
    assert all(row.last_error for row in failed)


async def test_relay_reconnects_after_losing_its_database_connection(
    engine, js, kit_db_url, project_ids
):
    pid = next(project_ids)
    relay = OutboxRelay(database_url=kit_db_url, js=js, poll_seconds=30)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(relay.leading.wait(), 10)
        async with engine.connect() as conn:  # what a PostgreSQL restart does to it
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        await stage_note(engine, pid, "after the restart")
        await _wait_published(js, pid, 1)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_events_staged_while_nats_is_down_go_out_in_order_when_it_returns(
    engine, kit_db_url, project_ids, tmp_path
):
    pid = next(project_ids)
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    client = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = client.jetstream()
    await ensure_space_stream(js, NatsSettings(nats_url=url))
    relay = OutboxRelay(database_url=kit_db_url, js=js, poll_seconds=0.5, publish_timeout=1)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(relay.leading.wait(), 10)
        server.stop()
        for body in ("one", "two", "three"):
            await stage_note(engine, pid, body)
        await asyncio.sleep(2)  # the relay tries, and fails, meanwhile
        server.start()  # same port, same JetStream directory
        published = await _wait_published(js, pid, 3, within=30)
        assert [m.data for m in published] == [p async for p in _payloads(engine)][-3:]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.close()
        server.stop()


class CountingJetStream(JetStreamContext):
    """The real JetStream context, counting the PubAcks it awaits at once."""

    most_in_flight = 0

    async def publish(self, *args, **kwargs):
        self.most_in_flight = max(self.most_in_flight, 1)
        return await super().publish(*args, **kwargs)

    async def publish_async(self, *args, **kwargs):
        future = await super().publish_async(*args, **kwargs)
        self.most_in_flight = max(self.most_in_flight, self.publish_async_pending())
        return future


async def test_relay_pipelines_publishes_and_keeps_outbox_order(
    engine, kit_db_url, nats_url, nats_settings, project_ids
):
    pid = next(project_ids)
    bodies = [f"note {n:03}" for n in range(250)]  # more than one relay batch (200)
    for body in bodies:
        await stage_note(engine, pid, body)
    client = await nats.connect(nats_url)
    try:
        js = CountingJetStream(client)
        await ensure_space_stream(js, nats_settings)
        assert await relay_once(js, kit_db_url) == len(bodies)
        assert js.most_in_flight > 1  # not one round trip per row
        sub = await js.pull_subscribe(space_filter(pid), durable=None)
        published = []
        while len(published) < len(bodies):
            published += await sub.fetch(len(bodies) - len(published), timeout=5)
        assert [m.data for m in published] == [p async for p in _payloads(engine)][-250:]
    finally:
        await client.close()


class TickedJetStream(JetStreamContext):
    """The real JetStream context, noting the event loop iteration each publish starts in."""

    ticks = 0
    sent_at: list[int]

    async def publish_async(self, *args, **kwargs):
        self.sent_at.append(self.ticks)
        return await super().publish_async(*args, **kwargs)


async def test_relay_sends_a_batch_without_a_trip_through_the_event_loop_per_row(
    engine, kit_db_url, nats_url, nats_settings, project_ids
):
    """Each publish used to wait for its pending slot with a timeout (asyncio.wait_for in
    Python 3.11: a task per row), so the loop ran the NATS flusher between rows: a socket
    write per event, and other work between them."""
    pid = next(project_ids)
    for n in range(100):
        await stage_note(engine, pid, f"row {n:03}")
    client = await nats.connect(nats_url)
    js = TickedJetStream(client)
    js.sent_at = []
    await ensure_space_stream(js, nats_settings)

    async def ticker() -> None:
        while True:
            js.ticks += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(ticker())
    try:
        assert await relay_once(js, kit_db_url) == 100
    finally:
        counting.cancel()
        await client.close()
    assert js.sent_at[-1] == js.sent_at[0]  # all 100 sent in one loop iteration


async def test_marking_rows_published_reads_only_those_rows(database_factory, js, project_ids):
    """The relay's statements are first planned on a new, empty outbox, where reading the
    whole table is the cheapest plan; PostgreSQL reuses a prepared statement's generic plan
    until the table is next analyzed, and published rows stay for a day. A pass over two
    new rows must not read the thousands published before them."""
    url = database_factory("relay_plans")
    await ensure_database(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    relay = OutboxRelay(database_url=url, js=js)
    relay_conn = await relay.connect()
    pid = next(project_ids)

    async def outbox_rows_read() -> int:
        await relay_conn.execute("SELECT pg_stat_force_next_flush()")  # this backend's counts
        return await relay_conn.fetchval(
            "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_user_tables WHERE relname = 'outbox'"
        )

    try:
        for n in range(8):  # enough passes for a generic plan, on a table of a few pages
            for row in range(12):
                await stage_note(engine, pid, f"early {n}.{row}")
            assert await relay.publish_pending(relay_conn) == 12
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, subject, payload, published_at) "
                    "SELECT gen_random_uuid(), 'space.0.messages.x', '\\x00', now() "
                    "FROM generate_series(1, 5000)"
                )
            )
        await stage_note(engine, pid, "late")
        await stage_note(engine, pid, "late!")
        before = await outbox_rows_read()
        assert await relay.publish_pending(relay_conn) == 2
        assert await outbox_rows_read() - before < 100
    finally:
        await relay_conn.close()
        await engine.dispose()


async def test_rows_published_a_day_ago_are_pruned_a_chunk_at_a_time(database_factory, js):
    """Only rows published longer ago than the retention go, a bounded chunk per statement,
    found through the BRIN index on `published_at`: at 1,000 events/s the outbox holds 86
    million rows published within the day, and reading them all outlasts the relay's
    command timeout."""
    url = database_factory("relay_prune")
    await ensure_database(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, subject, payload, created_at, published_at, "
                "failed_at) SELECT gen_random_uuid(), 'space.0.messages.x', '\\x00', "
                "now() - interval '3 days', published, failed FROM (VALUES "
                "(now() - interval '2 days', NULL), (now() - interval '2 days', NULL), "
                "(now() - interval '2 days', NULL), (now() - interval '25 hours', NULL), "
                "(now() - interval '25 hours', NULL), (now() - interval '23 hours', NULL), "
                "(now() - interval '1 minute', NULL), (NULL, NULL), (NULL, now())"
                ") AS v(published, failed)"
            )
        )
    relay = OutboxRelay(database_url=url, js=js, prune_chunk=3)
    relay_conn = await relay.connect()
    try:
        assert [await relay.prune_published(relay_conn) for _ in range(3)] == [3, 2, 0]
        kept = await relay_conn.fetch(
            "SELECT published_at > now() - interval '1 day' AS recent, failed_at IS NOT NULL "
            "AS failed FROM outbox ORDER BY seq"
        )
        # published within the day (2), never published (1), failed for good (1)
        assert [tuple(row) for row in kept] == [
            (True, False),
            (True, False),
            (None, False),
            (None, True),
        ]
        # Nothing but that index can find the old rows once scans of the table are off.
        await relay_conn.execute("SET enable_seqscan = off; SET enable_indexscan = off")
        plan = await relay_conn.fetchval(f"EXPLAIN (FORMAT JSON) {PRUNE_PUBLISHED}", 3)
        assert PRUNING_INDEX in plan
    finally:
        await relay_conn.close()
        await engine.dispose()
