"""The read model through a database outage, on a PostgreSQL and a NATS server of the test's
own (the event count must be this test's alone): it waits, backing off, and catches up."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import nats
from nats.js import JetStreamContext

from tasktracker.devstack.embedded import EmbeddedNats, EmbeddedPostgres
from tasktracker.knowledge.consumer import build_consumers
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.migrations import upgrade
from tasktracker.servicekit.runtime import ServiceRuntime
from tasktracker.servicekit.stream import ensure_space_stream

from .conftest import MIGRATIONS
from .support import eventually, message_id, publish, record
from .test_read_model import stored

BACKOFF_SECONDS = 1.0
# Without the backoff the batch came back every 0.2 s here (the fetch timeout), each delivery
# failing again; with it, deliveries are at least 1 s apart. Only a lower bound is asserted.
SHORTEST_GAP_SECONDS = 0.5


async def deliveries(js: JetStreamContext, settings: KnowledgeSettings) -> int:
    info = await js.consumer_info(settings.stream_name, settings.messages_durable)
    return info.delivered.consumer_seq


async def delivery_times(
    js: JetStreamContext, settings: KnowledgeSettings, seen: int, count: int
) -> list[float]:
    """When each of the `count` deliveries after the `seen`th was first seen (polled), or
    of those seen in 10 s."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    deadline = loop.time() + 10
    while len(times) < count and loop.time() < deadline:
        now = await deliveries(js, settings)
        times += [loop.time()] * (now - seen)
        seen = now
        await asyncio.sleep(0.05)
    return times[:count]


async def test_a_database_outage_is_waited_out_with_backoff(tmp_path: Path, project_ids) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg")
    server = EmbeddedNats(tmp_path / "nats")
    database_url = postgres.start()
    server.start()
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
    settings = KnowledgeSettings(
        database_url=database_url,
        nats_url=server.url,
        messages_durable="knowledge-outage",
        messages_outage_delay_seconds=BACKOFF_SECONDS,
        messages_outage_max_delay_seconds=2 * BACKOFF_SECONDS,
    )
    client = await nats.connect(server.url)
    js = client.jetstream()
    await ensure_space_stream(js, settings)
    runtime = ServiceRuntime(settings)
    broker = build_consumers(settings, runtime)
    sessions = db.session_factory(runtime.engine)
    project = next(project_ids)
    before, during = message_id(), message_id()
    try:
        await broker.start()
        await publish(js, record(project, before, "before"))
        await eventually(lambda: stored(sessions, [before]), lambda s: before in s)

        await asyncio.to_thread(postgres.stop)
        seen = await deliveries(js, settings)
        await publish(js, record(project, during, "during the outage"))
        times = await delivery_times(js, settings, seen, 3)  # the first try and two more
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        print(f"\ngaps between deliveries in the outage: {[round(g, 2) for g in gaps]}")
        assert gaps and min(gaps) >= SHORTEST_GAP_SECONDS, gaps

        await asyncio.to_thread(postgres.start)  # same data directory: the tables are there
        found = await eventually(lambda: _quiet(stored(sessions, [during])), lambda s: bool(s))
        assert found == {during: "during the outage"}
    finally:
        await broker.stop()
        await runtime.engine.dispose()
        await runtime.consumer_engine.dispose()
        await client.close()
        server.stop()
        postgres.stop()


async def _quiet(query):
    try:
        return await query
    except Exception as error:
        assert db.is_database_unavailable(error), error
        return {}
