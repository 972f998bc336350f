"""The message read model over real JetStream: idempotent, newest version wins, batched."""

from __future__ import annotations

import asyncio
import time

import httpx
from nats.js import JetStreamContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.knowledge.app import create_app
from tasktracker.knowledge.db.models import ChatMessage
from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit import db
from tasktracker.servicekit.migrations import upgrade
from tests.fixtures.clients import asgi_client

from .conftest import MIGRATIONS
from .support import eventually, message_id, publish, record


async def stored(sessions: async_sessionmaker[AsyncSession], ids: list[int]) -> dict[int, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(ChatMessage.id, ChatMessage.text).where(ChatMessage.id.in_(ids))
        )
        return dict(rows.all())


async def test_redelivered_out_of_order_stale_and_edited(
    client: httpx.AsyncClient, js: JetStreamContext, sessions, project_ids
) -> None:
    project = next(project_ids)
    plain, edited, late, sentinel = (message_id() for _ in range(4))
    original = record(project, edited, "first text", update_id=10)
    edit = record(project, edited, "edited text", edited_minute=5, update_id=11)
    await publish(js, record(project, plain, "hello", update_id=1))
    await publish(js, record(project, plain, "hello", update_id=1))  # a redelivery
    await publish(js, original, edit)  # an edit replaces the text
    await publish(js, record(project, late, "v2", edited_minute=9, update_id=21))  # out of order
    await publish(js, record(project, late, "v1", update_id=20))  # the older version, late
    await publish(js, original)  # a stale repeat of the first version
    await publish(js, record(project, sentinel, "done", update_id=99))  # consumed after the rest
    found = await eventually(
        lambda: stored(sessions, [plain, edited, late, sentinel]), lambda s: sentinel in s
    )
    assert found == {plain: "hello", edited: "edited text", late: "v2", sentinel: "done"}


async def test_a_10000_event_backlog_is_caught_up_in_one_pass(
    settings: KnowledgeSettings, js: JetStreamContext, database_factory, project_ids, session_id
) -> None:
    """The backlog is published first; a fresh consumer with a database of its own (the
    session's consumer must not store it first) then reads it in batches."""
    project = next(project_ids)
    backlog = [record(project, message_id(), f"message {n}", minute=n / 60) for n in range(10_000)]
    for start in range(0, len(backlog), 500):
        await asyncio.gather(*(publish(js, item) for item in backlog[start : start + 500]))
    url = database_factory("knowledge_backlog")
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    fresh = settings.model_copy(
        update={
            "database_url": url,
            "messages_durable": f"knowledge-backlog-{session_id}",
            "relay_enabled": False,
        }
    )
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)

    async def count() -> int:
        async with sessions() as session:
            query = (
                select(func.count())
                .select_from(ChatMessage)
                .where(ChatMessage.project_id == project)
            )
            return (await session.execute(query)).scalar_one()

    try:
        started = time.perf_counter()
        async with asgi_client(create_app(fresh)):
            await eventually(count, lambda n: n == 10_000, seconds=120)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    print(f"\nread model: 10,000 events caught up in {elapsed:.2f} s ({10_000 / elapsed:,.0f}/s)")
