"""A message read model's consumer alone: the CPU it and PostgreSQL spend per message.

The knowledge service's `message.updated` consumer (servicekit's `BatchConsumer`, as its API
process runs it, with the service's settings: `TT_KNOWLEDGE_MESSAGES_LINGER_SECONDS` and the
like apply) runs in this process against a NATS server and a database of its own; another
process publishes distinct `message.updated` envelopes at a fixed rate (open loop). When all
are stored: this process's CPU per message (the consumer; the publisher is not counted), the
CPU of the PostgreSQL backends serving it per message, and the transactions (batches) it took.
On a shared machine the end-to-end bench's per-process figures move with the load; these
isolate the read model. Analysis and review run the same consumer with their own upserts.

    uv run python -m bench.read_model --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.infra import bench_infra
from bench.report import Figure, print_figures
from tasktracker.servicekit.db import asyncpg_dsn

PROJECT = 7
SENT = datetime(2026, 1, 5, 9, tzinfo=UTC)


def publisher(nats_url: str, rate: int, count: int, go) -> None:
    go.wait()
    asyncio.run(_publish(nats_url, rate, count))


async def _publish(nats_url: str, rate: int, count: int) -> None:
    import nats

    from tasktracker.contracts.enums import MessageKind
    from tasktracker.contracts.events import (
        MessageAuthor,
        MessageRecord,
        MessageUpdated,
        make_envelope,
    )

    client = await nats.connect(nats_url)
    js = client.jetstream()
    author = MessageAuthor(display_name="Anna Petrova", user_id=3, telegram_user_id=1234567)
    started = time.monotonic()
    for n in range(1, count + 1):
        record = MessageRecord(
            id=n,
            project_id=PROJECT,
            chat_id=-100,
            message_id=n,
            update_id=n,
            author=author,
            text="We need to ship the checkout fix before Friday, who takes the retry bug?",
            kind=MessageKind.text,
            sent_at=SENT + timedelta(seconds=n),
        )
        envelope = make_envelope(MessageUpdated(message=record), project_id=PROJECT, producer="b")
        await js.publish(
            envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
        )
        if (ahead := started + n / rate - time.monotonic()) > 0:
            await asyncio.sleep(ahead)
    await client.close()


async def measure(nats_url: str, db_url: str, rate: int, seconds: int) -> list[Figure]:
    import tasktracker.knowledge
    from tasktracker.knowledge.consumer import build_consumers
    from tasktracker.knowledge.settings import KnowledgeSettings
    from tasktracker.servicekit import heap
    from tasktracker.servicekit.metrics import CONSUMER_BATCH_DURATION
    from tasktracker.servicekit.migrations import ensure_database, upgrade
    from tasktracker.servicekit.runtime import ServiceRuntime

    count = rate * seconds
    await ensure_database(db_url)
    migrations = Path(tasktracker.knowledge.__file__).with_name("migrations")
    await asyncio.to_thread(upgrade, db_url, migrations)
    settings = KnowledgeSettings(
        database_url=db_url, nats_url=nats_url, messages_start_time=datetime.now(UTC)
    )
    runtime = ServiceRuntime(settings)
    await runtime.start()  # the stream; the outbox relay idles (nothing is staged)
    consumers = build_consumers(settings, runtime)
    await consumers.start()
    heap.enable()  # as the service's command does: the startup heap out of the collector's way
    heap.freeze_startup_heap()
    spawn = mp.get_context("spawn")
    go = spawn.Event()
    sender = spawn.Process(target=publisher, args=(nats_url, rate, count, go))
    sender.start()
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await asyncio.sleep(2)  # the publisher's imports
        cpu, started = time.process_time(), time.monotonic()
        go.set()
        stored = 0
        while stored < count:
            await asyncio.sleep(0.5)
            stored = await conn.fetchval("SELECT count(*) FROM messages")
        cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
        backends = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        backend_cpu = sum(_cpu_seconds(row["pid"]) for row in backends)
    finally:
        await conn.close()
        await asyncio.to_thread(sender.join)
        await consumers.stop()
        await runtime.stop()
    batches = sum(
        sample.value
        for metric in CONSUMER_BATCH_DURATION.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    )
    linger = settings.messages_linger_seconds
    label = f"{rate}/s, linger {linger:g} s"
    return [
        Figure("read model", f"{label}: consumer CPU per message", 1e6 * cpu / count, "µs", ""),
        Figure(
            "read model",
            f"{label}: PostgreSQL CPU per message",
            1e6 * backend_cpu / count,
            "µs",
            "",
            f"{len(backends)} backend(s)",
        ),
        Figure(
            "read model",
            f"{label}: transactions",
            batches,
            "",
            "",
            f"{count / max(batches, 1):.0f} messages each, all stored in {elapsed:.1f} s",
        ),
    ]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a local process (PostgreSQL runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drop(db_url: str) -> None:
    from sqlalchemy.engine import make_url

    from tasktracker.devstack.embedded import database_url

    admin = await asyncpg.connect(asyncpg_dsn(database_url(db_url, "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')
    await admin.close()


def main(argv: list[str] | None = None) -> list[Figure]:
    from tasktracker.devstack.embedded import database_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=500, help="messages per second")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv or [])
    with bench_infra() as infra:
        db = database_url(infra.postgres_url, f"tt_bench_read_model_{uuid.uuid4().hex[:8]}")
        try:
            result = asyncio.run(measure(infra.nats_url, db, args.rate, args.seconds))
        finally:
            asyncio.run(_drop(db))
    print_figures(result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
