"""BatchConsumer over real NATS and PostgreSQL: batches, redelivery, a poison event, an outage
waited out with backoff, no fetched batch lost under load, a deleted consumer created again
and a NATS restart survived."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import EventPayload, TopicCreated, make_envelope
from tasktracker.devstack.embedded import EmbeddedNats, EmbeddedPostgres
from tasktracker.servicekit import db
from tasktracker.servicekit.consumers import BatchConsumer, ConsumerOptions, EventConsumers
from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream

from .conftest import metadata

_projects = itertools.count(1)
STREAM = NatsSettings().stream_name

INSERT_NOTES = text(
    "INSERT INTO notes (id, body) SELECT * FROM unnest(CAST(:ids AS integer[]), "
    "CAST(:bodies AS text[])) ON CONFLICT (id) DO NOTHING"
)


class Notes:
    """The handler under test: one multi-row upsert per batch, batch sizes recorded."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.fail_next: BaseException | None = None

    async def __call__(self, session: AsyncSession, events: list[Envelope[EventPayload]]) -> None:
        self.batches.append(len(events))
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        payloads = [e.data for e in events]
        assert all(isinstance(p, TopicCreated) for p in payloads)
        await session.execute(
            INSERT_NOTES,
            {"ids": [p.topic_id for p in payloads], "bodies": [p.name for p in payloads]},
        )


@pytest.fixture
def project(session_id: str) -> int:
    return int(session_id, 16) % 1_000_000 * 1000 + 2_000_000_000 + next(_projects)


async def publish(js: JetStreamContext, project: int, topic_ids: list[int]) -> None:
    for topic_id in topic_ids:
        envelope = make_envelope(
            TopicCreated(topic_id=topic_id, name=f"note {topic_id}", description=""),
            project_id=project,
            producer="test",
        )
        await js.publish(
            envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
        )


def options(session_id: str, project: int, **overrides: object) -> ConsumerOptions:
    values: dict[str, object] = {
        "durable": f"kit-{session_id}-{project}",
        "subject": f"space.{project}.topics.>",
        "event_types": frozenset({"topic_created", "bogus"}),
        "start_time": datetime.now(UTC) - timedelta(minutes=1),
        **overrides,
    }
    return ConsumerOptions(**values)  # type: ignore[arg-type]


async def stored(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT id FROM notes"))).scalars())


async def eventually(probe, done, seconds: float = 60):
    """Poll until `done(value)`; a deadline, not a measurement."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await probe()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"not reached: {value!r}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(engine: AsyncEngine, nats_url: str, nats_settings: NatsSettings) -> AsyncIterator:
    started: list[EventConsumers] = []

    async def start(opts: ConsumerOptions, handler: Notes, eng: AsyncEngine = engine):
        consumer = BatchConsumer(nats_settings.stream_name, opts, handler, db.session_factory(eng))
        consumers = EventConsumers(nats_url, "kit-test", [consumer])
        await consumers.start()
        started.append(consumers)
        return consumers

    yield start
    for consumers in started:
        await consumers.stop()


async def test_a_backlog_is_stored_in_batches_and_acknowledged(
    js, engine, running, session_id, project
):
    ids = list(range(1, 201))
    await publish(js, project, ids)
    notes = Notes()
    opts = options(session_id, project, batch_size=100)
    await running(opts, notes)
    assert await eventually(lambda: stored(engine), lambda s: s == set(ids)) == set(ids)
    assert max(notes.batches) > 1  # not one transaction per event
    assert all(size <= 100 for size in notes.batches)
    info = await eventually(
        lambda: js.consumer_info(STREAM, opts.durable), lambda i: i.num_ack_pending == 0
    )
    assert info.num_pending == 0


async def test_a_batch_lost_to_an_outage_is_delivered_again_and_stored_once(
    js, engine, running, session_id, project
):
    notes = Notes()
    notes.fail_next = ConnectionRefusedError("database away")  # an outage: waited out
    opts = options(session_id, project, outage_delay_seconds=0.2)
    await publish(js, project, [1, 2, 3])
    await running(opts, notes)
    assert await eventually(lambda: stored(engine), lambda s: s == {1, 2, 3}) == {1, 2, 3}
    info = await js.consumer_info(STREAM, opts.durable)
    assert info.num_redelivered > 0 or info.delivered.consumer_seq > 3
    assert len(notes.batches) >= 2


async def test_a_poison_event_and_invalid_bytes_are_skipped_alone(
    js, engine, running, session_id, project
):
    await publish(js, project, [1, 2])
    await publish(js, project, [2**40])  # out of integer range: PostgreSQL refuses the batch
    await js.publish(f"space.{project}.topics.bogus", b"not an envelope")
    await publish(js, project, [3, 4])
    notes = Notes()
    opts = options(session_id, project)
    await running(opts, notes)
    assert await eventually(lambda: stored(engine), lambda s: s == {1, 2, 3, 4}) == {1, 2, 3, 4}
    info = await eventually(
        lambda: js.consumer_info(STREAM, opts.durable), lambda i: i.num_ack_pending == 0
    )
    assert info.num_pending == 0  # nothing left to block later events


BACKOFF_SECONDS = 1.0
OUTAGE_WINDOW_SECONDS = 4.0


async def test_a_database_outage_is_waited_out_with_backoff(
    js, running, session_id, project, tmp_path: Path
):
    postgres = EmbeddedPostgres(tmp_path / "pg")
    url = postgres.start()
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        opts = options(
            session_id,
            project,
            outage_delay_seconds=BACKOFF_SECONDS,
            outage_max_delay_seconds=2 * BACKOFF_SECONDS,
        )
        await running(opts, Notes(), engine)
        await publish(js, project, [1])
        await eventually(lambda: stored(engine), lambda s: s == {1})

        await asyncio.to_thread(postgres.stop)
        seen = (await js.consumer_info(STREAM, opts.durable)).delivered.consumer_seq
        await publish(js, project, [2])
        await asyncio.sleep(OUTAGE_WINDOW_SECONDS)
        tries = (await js.consumer_info(STREAM, opts.durable)).delivered.consumer_seq - seen
        # An upper bound only (a loaded machine tries less often, never more): without backoff
        # the event came back at once, dozens of times in the window.
        assert tries <= OUTAGE_WINDOW_SECONDS / BACKOFF_SECONDS + 1, tries

        await asyncio.to_thread(postgres.start)
        assert await eventually(lambda: _quiet(stored(engine)), lambda s: s == {1, 2})
    finally:
        await engine.dispose()
        postgres.stop()


async def _quiet(query):
    try:
        return await query
    except Exception as error:
        assert db.is_database_unavailable(error), error
        return set()


async def test_no_fetched_batch_is_lost_under_load(js, engine, running, session_id, project):
    """Problem 2: with FastStream's batch loop a fetched batch sometimes never reached the
    handler and came back only after `ack_wait`. With `ack_wait` far beyond the deadline, a
    single lost batch fails this test."""
    notes = Notes()
    opts = options(
        session_id, project, batch_size=20, fetch_wait_seconds=0.05, ack_wait_seconds=600
    )
    await running(opts, notes)
    ids = list(range(1, 3001))
    for start in range(0, len(ids), 150):  # bursts while the consumer fetches
        await publish(js, project, ids[start : start + 150])
        await asyncio.sleep(0.01)
    assert await eventually(lambda: stored(engine), lambda s: s == set(ids), 120) == set(ids)


async def test_events_arriving_within_the_linger_are_stored_in_one_transaction(
    js, engine, running, session_id, project
):
    notes = Notes()
    opts = options(session_id, project, batch_size=100, fetch_wait_seconds=0.2, linger_seconds=2)
    await running(opts, notes)
    ids = list(range(1, 11))
    for topic_id in ids:  # a trickle over ~0.2 s, well within the linger
        await publish(js, project, [topic_id])
        await asyncio.sleep(0.02)
    assert await eventually(lambda: stored(engine), lambda s: s == set(ids)) == set(ids)
    assert notes.batches == [10]


async def test_a_lone_event_is_stored_within_the_linger_and_the_fetch_wait(
    js, engine, running, session_id, project
):
    notes = Notes()
    opts = options(session_id, project, fetch_wait_seconds=0.2, linger_seconds=0.5)
    await running(opts, notes)
    await asyncio.sleep(0.3)  # the consumer is bound and waiting
    loop = asyncio.get_running_loop()
    published = loop.time()
    await publish(js, project, [1])
    await eventually(lambda: stored(engine), lambda s: s == {1}, seconds=10)
    waited = loop.time() - published
    # 0.7 s at most by design; the rest is slack for a loaded machine and the 50 ms poll
    assert waited < 0.7 + 1.0, waited
    assert notes.batches == [1]


async def test_stop_leaves_nothing_running(nats_url, nats_settings, engine, session_id, project):
    consumer = BatchConsumer(
        nats_settings.stream_name, options(session_id, project), Notes(), db.session_factory(engine)
    )
    consumers = EventConsumers(nats_url, "kit-test", [consumer])
    await consumers.start()
    tasks = list(consumers._tasks)
    await consumers.stop()
    assert all(task.done() and not task.cancelled() for task in tasks)  # ended, not killed


async def test_a_restart_with_another_start_time_resumes_the_existing_durable(
    js, engine, running, session_id, project
):
    """`start_time` says where a NEW durable starts; a restart computing another one (every
    deploy, every test stack) used to be refused by the server as a changed deliver policy, and
    the consumer retried that forever."""
    first = options(session_id, project)
    consumers = await running(first, Notes())
    await publish(js, project, [1])
    await eventually(lambda: stored(engine), lambda s: s == {1})
    await consumers.stop()

    await publish(js, project, [2])
    later = options(session_id, project, start_time=datetime.now(UTC) + timedelta(minutes=5))
    await running(later, Notes())
    assert await eventually(lambda: stored(engine), lambda s: s == {1, 2}, seconds=30) == {1, 2}


async def test_a_deleted_consumer_is_created_again_and_its_events_stored(
    js, engine, running, session_id, project
):
    opts = options(session_id, project, fetch_wait_seconds=0.5)
    await running(opts, Notes())
    await publish(js, project, [1])
    await eventually(lambda: stored(engine), lambda s: s == {1})
    await js.delete_consumer(STREAM, opts.durable)  # ends the pending fetch with a 409
    await publish(js, project, [2])
    assert await eventually(lambda: stored(engine), lambda s: s == {1, 2}, 30) == {1, 2}
    assert (await js.consumer_info(STREAM, opts.durable)).config.durable_name == opts.durable


async def test_a_consumer_survives_a_nats_restart(engine, session_id, project, tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    settings = NatsSettings(nats_url=url)
    client = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    consumers = None
    try:
        js = client.jetstream()
        await ensure_space_stream(js, settings)
        consumer = BatchConsumer(
            settings.stream_name,
            options(session_id, project, fetch_wait_seconds=0.5),
            Notes(),
            db.session_factory(engine),
        )
        consumers = EventConsumers(url, "kit-test", [consumer])
        await consumers.start()
        await publish(js, project, [1])
        await eventually(lambda: stored(engine), lambda s: s == {1})

        server.stop()  # a fetch is in flight
        await asyncio.sleep(1.5)
        server.start()  # same port, same JetStream directory
        await eventually(lambda: _published(js, project, [2]), bool, 30)
        assert await eventually(lambda: stored(engine), lambda s: s == {1, 2}, 30) == {1, 2}
    finally:
        if consumers is not None:
            await consumers.stop()
        await client.close()
        server.stop()


async def _published(js: JetStreamContext, project: int, topic_ids: list[int]) -> bool:
    """Publishes once NATS is back (its publishes fail while it reconnects)."""
    try:
        await publish(js, project, topic_ids)
    except Exception:
        return False
    return True
