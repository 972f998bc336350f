"""Commit-to-stream latency through the outbox, against a direct JetStream publish.

Baseline (same run, same servers): a transaction that writes a row, then a direct
`js.publish` — what a service without an outbox would do. Measured: a transaction that writes
the row and stages the event, committed; the relay (woken by NOTIFY) publishes it; the time
until a subscriber holds the message. Ratio = outbox / baseline, for p50 and p99.

Nothing here waits on a timer. Each round expects its event (by its id) before anything can
publish it: the relay runs in this process and may deliver an event before the committing
code resumes, which once made a round wait for an event it had already missed. The subscriber
is confirmed by the server and the relay leads before the first round; warm-up rounds absorb
first connections. The one timeout left only turns a broken server into an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import nats
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, Table, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.infra import bench_infra, percentile
from tasktracker.contracts.events import ChatBound, make_envelope
from tasktracker.devstack.embedded import database_url
from tasktracker.servicekit.db import asyncpg_dsn, create_engine, session_factory
from tasktracker.servicekit.migrations import ensure_database
from tasktracker.servicekit.outbox import Outbox, outbox_table
from tasktracker.servicekit.relay import OutboxRelay
from tasktracker.servicekit.settings import NatsSettings
from tasktracker.servicekit.stream import ensure_space_stream

ROUNDS = 300
WARMUP = 20
PROJECT = 990_000_001
BROKEN_AFTER_SECONDS = 60.0

metadata = MetaData()
outbox = outbox_table(metadata)
rows = Table("bench_rows", metadata, Column("id", Integer, primary_key=True))


class Arrivals:
    """When each expected event reached the subscriber, by its `Nats-Msg-Id`."""

    def __init__(self) -> None:
        self._expected: dict[str, asyncio.Future[float]] = {}

    def expect(self, msg_id: str) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        self._expected[msg_id] = future
        return future

    async def on_msg(self, msg) -> None:
        key = msg.headers.get("Nats-Msg-Id") if msg.headers else None
        future = self._expected.pop(key, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


@dataclass
class Round:
    started: float
    arrived: asyncio.Future[float]

    async def milliseconds(self) -> float:
        try:
            done = await asyncio.wait_for(self.arrived, BROKEN_AFTER_SECONDS)
        except TimeoutError:
            raise RuntimeError(f"no event after {BROKEN_AFTER_SECONDS:.0f}s: is NATS up?") from None
        return (done - self.started) * 1000


@dataclass
class Bench:
    sessions: async_sessionmaker
    js: JetStreamContext
    arrivals: Arrivals
    stage: Outbox
    project: int

    async def start(self, kind: str, n: int) -> Round:
        """Commit round `n` (and publish it when `kind` is "direct")."""
        payload = ChatBound(chat_id=n, released_parked=0)
        envelope = make_envelope(
            payload, project_id=self.project, producer="bench", id=uuid.uuid4()
        )
        arrived = self.arrivals.expect(envelope.msg_id)
        started = time.perf_counter()
        async with self.sessions() as session, session.begin():
            await session.execute(insert(rows))
            if kind == "outbox":
                await self.stage.stage(
                    session, payload, project_id=self.project, event_id=envelope.id
                )
        if kind == "direct":
            await self.js.publish(
                envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
            )
        return Round(started, arrived)


@contextlib.asynccontextmanager
async def bench_ready(nats_url: str, db_url: str, project: int) -> AsyncIterator[Bench]:
    """Tables, stream, a confirmed subscriber and a leading relay."""
    await ensure_database(db_url)
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await ensure_space_stream(js, NatsSettings(nats_url=nats_url))
    arrivals = Arrivals()
    await client.subscribe(f"space.{project}.>", cb=arrivals.on_msg)
    await client.flush()  # the server holds the subscription before anything is published
    relay = OutboxRelay(database_url=db_url, js=js, poll_seconds=30)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        try:
            await asyncio.wait_for(relay.leading.wait(), BROKEN_AFTER_SECONDS)
        except TimeoutError:
            raise RuntimeError("the relay never took the lead: is PostgreSQL up?") from None
        yield Bench(session_factory(engine), js, arrivals, Outbox(outbox, "bench"), project)
    finally:
        stop.set()
        await relay_task
        await client.close()
        await engine.dispose()


async def measure(
    nats_url: str,
    db_url: str,
    *,
    rounds: int = ROUNDS,
    warmup: int = WARMUP,
    project: int = PROJECT,
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"direct": [], "outbox": []}
    async with bench_ready(nats_url, db_url, project) as bench:
        for i in range((warmup + rounds) * 2):
            kind = "direct" if i % 2 == 0 else "outbox"
            elapsed = await (await bench.start(kind, i)).milliseconds()
            if i >= warmup * 2:
                results[kind].append(elapsed)
    return results


def main(argv: list[str] | None = None) -> None:
    with bench_infra() as infra:
        db = database_url(infra.postgres_url, f"tt_bench_outbox_{uuid.uuid4().hex[:8]}")
        try:
            results = asyncio.run(measure(infra.nats_url, db))
        finally:
            asyncio.run(_drop(infra.postgres_url, db))
    direct, via_outbox = results["direct"], results["outbox"]
    print(f"outbox latency: {ROUNDS} events each, commit → subscriber, milliseconds")
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        base, out = percentile(direct, q), percentile(via_outbox, q)
        print(f"  {name}: direct {base:7.2f}   outbox+relay {out:7.2f}   ratio {out / base:5.2f}")


async def _drop(server_url: str, db_url: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(database_url(server_url, "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')
    await admin.close()


if __name__ == "__main__":
    main()
