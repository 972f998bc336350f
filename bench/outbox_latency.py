"""Commit-to-stream latency through the outbox, against a direct JetStream publish.

Baseline (same run, same servers): a transaction that writes a row, then a direct
`js.publish` — what a service without an outbox would do. Measured: a transaction that writes
the row and stages the event, committed; the relay (woken by NOTIFY) publishes it; the time
until a subscriber holds the message. Ratio = outbox / baseline, for p50 and p99.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import nats
from sqlalchemy import Column, Integer, MetaData, Table, insert
from sqlalchemy.engine import make_url

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
PROJECT = 990_000_001

metadata = MetaData()
outbox = outbox_table(metadata)
rows = Table("bench_rows", metadata, Column("id", Integer, primary_key=True))


async def measure(nats_url: str, db_url: str) -> dict[str, list[float]]:
    await ensure_database(db_url)
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await ensure_space_stream(js, NatsSettings(nats_url=nats_url))
    arrived: dict[str, asyncio.Future[float]] = {}

    async def on_msg(msg) -> None:
        key = msg.headers.get("Nats-Msg-Id") if msg.headers else None
        if key in arrived and not arrived[key].done():
            arrived[key].set_result(time.perf_counter())

    await client.subscribe(f"space.{PROJECT}.>", cb=on_msg)
    relay = OutboxRelay(database_url=db_url, js=js, poll_seconds=30)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    await asyncio.wait_for(relay.leading.wait(), 10)
    stage = Outbox(outbox, producer="bench")
    results: dict[str, list[float]] = {"direct": [], "outbox": []}
    loop = asyncio.get_running_loop()
    for i in range(ROUNDS * 2):
        kind = "direct" if i % 2 == 0 else "outbox"
        payload = ChatBound(chat_id=i, released_parked=0)
        started = time.perf_counter()
        async with sessions() as session, session.begin():
            await session.execute(insert(rows))
            if kind == "outbox":
                envelope = await stage.stage(session, payload, project_id=PROJECT)
        if kind == "direct":
            envelope = make_envelope(payload, project_id=PROJECT, producer="bench", id=uuid.uuid4())
        arrived[envelope.msg_id] = loop.create_future()
        if kind == "direct":
            await js.publish(
                envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
            )
        done = await asyncio.wait_for(arrived[envelope.msg_id], 10)
        results[kind].append((done - started) * 1000)
    stop.set()
    await relay_task
    await client.close()
    await engine.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    with bench_infra() as infra:
        db = database_url(infra.postgres_url, f"tt_bench_outbox_{uuid.uuid4().hex[:8]}")
        results = asyncio.run(measure(infra.nats_url, db))
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
