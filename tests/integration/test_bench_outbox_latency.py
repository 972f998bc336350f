"""The outbox latency bench cannot fail by timing: an event the relay delivers before the
committing code resumes is still counted, and the bench runs to its end on real servers."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from bench.outbox_latency import bench_ready, measure
from tasktracker.servicekit.db import asyncpg_dsn


async def published(db_url: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return bool(await conn.fetchval("SELECT bool_and(published_at IS NOT NULL) FROM outbox"))
    finally:
        await conn.close()


async def test_an_event_delivered_before_the_committing_code_resumes_is_counted(
    nats_url, database_factory, project_ids
):
    db_url = database_factory("bench_outbox")
    async with bench_ready(nats_url, db_url, next(project_ids)) as bench:
        sessions = bench.sessions

        @contextlib.asynccontextmanager
        async def slow_to_close():
            async with sessions() as session:
                yield session
            # A busy machine: the relay (same process) publishes the committed event, and the
            # subscriber receives it, before the round's own code runs again. The row is marked
            # after JetStream's ack, which the server sends after the subscriber's copy.
            while not await published(db_url):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0)

        bench.sessions = slow_to_close
        round_ = await bench.start("outbox", 1)
        assert await round_.milliseconds() > 0


async def test_the_bench_runs_to_the_end(nats_url, database_factory, project_ids):
    db_url = database_factory("bench_outbox")
    results = await measure(nats_url, db_url, rounds=20, warmup=2, project=next(project_ids))
    assert [len(results["direct"]), len(results["outbox"])] == [20, 20]
    assert min(results["direct"] + results["outbox"]) > 0
