"""A chat history import: 50,000 messages of a generated Telegram Desktop export, uploaded to
ingestion's `POST /api/projects/{pid}/imports`, stored by the `import_history` job a chunk per
transaction, and consumed by the knowledge and analysis read models.

Every process of `make run` runs (`bench.stack`). Figures: messages per second from the upload
to the import's `completed` (the export's messages, service and media ones included, over that
time), seconds from the upload until both read models hold every stored message (their
databases are counted), that catch-up against the import's own time (the ratio), and the same
file uploaded again (a no-op: nothing stored, nothing published).

    uv run python -m bench.history_import --messages 50000
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
import httpx

from bench.infra import bench_infra
from bench.report import Figure, print_figures
from bench.stack import BenchStack, create_project
from tasktracker.servicekit.db import asyncpg_dsn
from tests.fixtures.actor import SignedActor
from tests.fixtures.telegram_export import export_bytes, generate_export

EXPORT_ID = 777_000_123  # a supergroup; the Bot API calls it -1000777000123
CHAT = -(10**12 + EXPORT_ID)


async def read_model_count(stack: BenchStack, service: str, project: int) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(stack.env[f"TT_{service.upper()}_DATABASE_URL"]))
    try:
        return await conn.fetchval("SELECT count(*) FROM messages WHERE project_id = $1", project)
    finally:
        await conn.close()


async def upload_and_wait(
    client: httpx.AsyncClient, project: int, body: bytes, limit: float
) -> tuple[dict, float]:
    started = time.monotonic()
    response = await client.post(f"/api/projects/{project}/imports", content=body)
    response.raise_for_status()
    import_id = response.json()["id"]
    while time.monotonic() - started < limit:
        state = (await client.get(f"/api/projects/{project}/imports/{import_id}")).json()
        if state["status"] in ("completed", "failed"):
            return state, time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"import {import_id} not done in {limit} s")


async def measure(stack: BenchStack, messages: int, limit: float) -> list[Figure]:
    project = await create_project(stack, "history import bench", [CHAT])
    export, expected = generate_export(messages, export_id=EXPORT_ID)
    body = export_bytes(export)
    print(f"export: {messages} messages, {len(body) / 2**20:.1f} MB, {expected.stored} with text")
    auth = SignedActor("bench-admin", key=stack.internal_actor_key)
    async with httpx.AsyncClient(base_url=stack.url("ingestion"), auth=auth, timeout=120) as rest:
        started = time.monotonic()
        state, took = await upload_and_wait(rest, project, body, limit)
        caught_up: dict[str, float] = {}
        while len(caught_up) < 2 and time.monotonic() - started < limit:
            for service in ("knowledge", "analysis"):
                if service not in caught_up and (
                    await read_model_count(stack, service, project) >= expected.stored
                ):
                    caught_up[service] = time.monotonic() - started
            await asyncio.sleep(0.1)
        again, again_took = await upload_and_wait(rest, project, body, limit)
    print(f"import: {state}\nagain: {again}")
    both = max(caught_up.values()) if len(caught_up) == 2 else None
    return [
        Figure("history", f"import of {messages:,} messages", messages / took, "msg/s", "",
               f"{took:.1f} s; {state['stored']:,} stored, {state['skipped']:,} skipped"),
        Figure("history", "read models caught up (knowledge, analysis)", both, "s", "",
               ", ".join(f"{s} {t:.1f} s" for s, t in caught_up.items())),
        Figure("history", "read models caught up / import time",
               None if both is None else both / took, "x", ""),
        Figure("history", "same file again: messages stored", again["stored"], "", "= 0",
               f"{again_took:.1f} s, {messages / again_took:,.0f} msg/s read"),
        Figure("history", "messages not stored", expected.stored - state["stored"], "", "= 0"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--limit", type=float, default=600, help="give up after (seconds)")
    args = parser.parse_args(argv or [])
    with bench_infra() as infra:
        stack = BenchStack(infra.nats_url, infra.postgres_url)
        try:
            stack.migrate()
            stack.start()
            result = asyncio.run(measure(stack, args.messages, args.limit))
        finally:
            stack.cleanup()
    print_figures(result)
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
