"""The ingestion worker catching up a backlog: N updates of one chat queued while it is stopped.

`tasktracker-ingestion api` and `worker` run as `make run` runs them (`bench.stack`). With the
worker stopped, a project is created with one chat bound, and N distinct updates of that chat
are posted to the webhook one after the other, so they are queued in order. Then the worker
starts, and the bench counts stored messages in the service's database until all N are there
(or until nothing has been stored for `--stall` seconds). Figures:
messages stored per second from the first stored to the last (goal ≥ 2,000), the same from
the worker's start, whether they were stored in arrival order (message ids by row id), and
the worker's CPU time per message from the first stored to the last (its children included;
what the worker costs, which other load on the machine does not change the way it does
rates).

    uv run python -m bench.worker --messages 10000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import asyncpg

from bench.infra import bench_infra
from bench.loadgen import RawConnection, fresh_update_base, telegram_update
from bench.report import Figure, print_figures
from bench.stack import BenchStack, create_project, tree_cpu_seconds
from tasktracker.servicekit.db import asyncpg_dsn

CHAT = -100_777_000_777


async def queue_backlog(stack: BenchStack, count: int) -> int:
    """Post `count` updates of one chat through the webhook, one after the other on one
    keep-alive connection, so that they are queued in message-id order."""
    project = await create_project(stack, "bench worker", [CHAT])
    hook = {
        "X-Telegram-Bot-Api-Secret-Token": stack.stack.webhook_secret,
        "Content-Type": "application/json",
    }
    connection = RawConnection(stack.url("ingestion"), hook)
    base = fresh_update_base()
    try:
        for n in range(count):
            body = telegram_update(base + n, CHAT, n + 1)
            status = await connection.request("POST", "/webhook/telegram", body)
            if status != 200:
                raise RuntimeError(f"webhook answered {status} while queueing the backlog")
    finally:
        connection.close()
    return project


async def watch_stored(stack: BenchStack, count: int, stall: float) -> dict[str, float]:
    """Poll the count of stored messages; times are relative to the worker's start."""
    conn = await asyncpg.connect(asyncpg_dsn(stack.env["TT_INGESTION_DATABASE_URL"]))
    try:
        started = time.monotonic()
        stack.start("ingestion-worker")
        worker = stack.processes["ingestion-worker"].process
        assert worker is not None
        first = last_progress = None
        stored = stored_at_first = 0
        cpu_at_first = cpu_at_last = 0.0
        while stored < count:
            now = time.monotonic()
            seen = await conn.fetchval("SELECT count(*) FROM messages WHERE chat_id = $1", CHAT)
            if seen > stored:
                stored, last_progress = seen, now
                cpu_at_last = tree_cpu_seconds(worker.pid)
                if first is None:
                    first, stored_at_first, cpu_at_first = now, seen, cpu_at_last
            elif now - (last_progress or started) > stall:
                break
            await asyncio.sleep(0.1)
        done = time.monotonic()
        ids = await conn.fetch(
            "SELECT message_id FROM messages WHERE chat_id = $1 ORDER BY id", CHAT
        )
        order = [row["message_id"] for row in ids]
        out_of_order = sum(1 for a, b in itertools.pairwise(order) if b < a)
        return {
            "stored": stored,
            "from_start": done - started,
            "from_first": done - (first or started),
            "out_of_order": out_of_order,
            "cpu_ms_per_message": (cpu_at_last - cpu_at_first)
            * 1000
            / max(stored - stored_at_first, 1),
        }
    finally:
        await conn.close()


def measure(stack: BenchStack, count: int, stall: float) -> list[Figure]:
    asyncio.run(queue_backlog(stack, count))
    seen = asyncio.run(watch_stored(stack, count, stall))
    stored = seen["stored"]
    return [
        Figure(
            "worker",
            f"backlog of {count:,}: stored/s first→last",
            stored / seen["from_first"],
            "msg/s",
            "≥ 2,000",
            f"{stored:,.0f} stored in {seen['from_first']:.1f} s",
        ),
        Figure(
            "worker",
            "backlog: stored/s from the worker's start",
            stored / seen["from_start"],
            "msg/s",
            "",
            f"{seen['from_start']:.1f} s including its start",
        ),
        Figure("worker", "backlog: messages not stored", count - stored, "", "= 0"),
        Figure("worker", "backlog: stored out of arrival order", seen["out_of_order"], "", "= 0"),
        Figure("worker", "backlog: worker CPU per message", seen["cpu_ms_per_message"], "ms", ""),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--stall", type=float, default=30, help="give up after no progress")
    args = parser.parse_args(argv or [])
    if not 1 <= args.messages <= 100_000:
        parser.error("--messages must be 1..100000")
    with bench_infra() as infra:
        processes = ("ingestion", "ingestion-worker")
        stack = BenchStack(infra.nats_url, infra.postgres_url, only=processes)
        try:
            stack.migrate()
            stack.start("ingestion")
            result = measure(stack, args.messages, args.stall)
        finally:
            stack.cleanup()
    print_figures(result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
