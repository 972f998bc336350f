"""The ingest layer against real PostgreSQL: races are decided by the database, and what it
can't store is what the webhook refuses."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from tasktracker.ingestion.db.models import Message, ParkedUpdate, outbox
from tasktracker.ingestion.domain import unstorable
from tasktracker.ingestion.ingest import Outcome, bind_chat, ingest_update
from tasktracker.servicekit.db import create_engine, session_factory, transaction

from .support import (
    UNSTORABLE,
    bound_project,
    create_project,
    new_chat_id,
    sample,
    unstorable_update,
)


async def deliver(engine, update: dict) -> Outcome:
    async with transaction(session_factory(engine)) as session:
        return await ingest_update(session, update)


async def count(engine, stmt) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(stmt)


def events_of(project_id: int):
    subject = f"space.{project_id}.messages.message.updated"
    return select(func.count()).select_from(outbox).where(outbox.c.subject == subject)


async def test_concurrent_deliveries_of_one_update_store_once(client, engine):
    project_id, chat_id = await bound_project(client)
    update = sample("text", chat_id=chat_id)
    outcomes = await asyncio.gather(*(deliver(engine, update) for _ in range(8)))
    assert sorted(outcomes) == sorted([Outcome.stored] + [Outcome.unchanged] * 7)
    messages = select(func.count()).where(Message.project_id == project_id)
    assert await count(engine, messages) == 1
    assert await count(engine, events_of(project_id)) == 1


async def test_concurrent_edits_apply_only_newer_versions(client, engine):
    project_id, chat_id = await bound_project(client)
    edits = [
        sample("edited", chat_id=chat_id, text=f"v{n}", edit_date=1718000000 + n)
        for n in range(1, 11)
    ]
    await asyncio.gather(*(deliver(engine, update) for update in edits))
    await deliver(engine, sample("text", chat_id=chat_id))  # the original, arriving last
    async with engine.connect() as conn:
        [text] = (
            await conn.execute(select(Message.text).where(Message.project_id == project_id))
        ).scalars()
    assert text == "v10"
    assert 1 <= await count(engine, events_of(project_id)) <= 10


async def test_same_second_edits_are_ordered_by_update_id(client, engine):
    project_id, chat_id = await bound_project(client)
    first = sample("edited", chat_id=chat_id, text="first", edit_date=1718000100)
    second = sample("edited", chat_id=chat_id, text="second", edit_date=1718000100)
    assert await deliver(engine, second) is Outcome.stored
    assert await deliver(engine, first) is Outcome.unchanged
    assert await deliver(engine, second) is Outcome.unchanged
    async with engine.connect() as conn:
        stored = select(Message.text).where(Message.project_id == project_id)
        assert (await conn.execute(stored)).scalar_one() == "second"


async def test_binding_while_updates_arrive_loses_nothing(client, engine):
    """Each update either is parked before the bind releases parked ones, or sees the bind."""
    project_id = await create_project(client)
    chat_id = new_chat_id()
    updates = [sample("text", chat_id=chat_id, message_id=n) for n in range(1, 41)]

    async def deliver_later(n: int, update: dict) -> Outcome:
        await asyncio.sleep(n * 0.005)
        return await deliver(engine, update)

    async def bind_midway():
        await asyncio.sleep(0.1)
        bind_engine = create_engine(str(engine.url.render_as_string(hide_password=False)))
        try:
            async with transaction(session_factory(bind_engine)) as session:
                return await bind_chat(
                    session, project_id=project_id, chat_id=chat_id, title=None, actor="test"
                )
        finally:
            await bind_engine.dispose()

    *outcomes, bound = await asyncio.gather(
        *(deliver_later(n, update) for n, update in enumerate(updates)), bind_midway()
    )
    assert set(outcomes) <= {Outcome.stored, Outcome.parked}
    assert bound.released_parked == outcomes.count(Outcome.parked)
    waiting = select(func.count()).where(
        ParkedUpdate.chat_id == chat_id, ParkedUpdate.released_at.is_(None)
    )
    assert await count(engine, waiting) == 0
    messages = select(func.count()).where(Message.project_id == project_id)
    assert await count(engine, messages) == len(updates)
    assert await count(engine, events_of(project_id)) == len(updates)


@pytest.mark.parametrize("case", list(UNSTORABLE))
async def test_what_the_webhook_refuses_the_database_would_refuse(client, engine, case):
    """Why the webhook checks: each of these fails in the worker on every try."""
    _, chat_id = await bound_project(client)
    update, _ = unstorable_update(case, chat_id)
    update = json.loads(json.dumps(update))  # as the worker receives it
    assert unstorable(update, Update.model_validate(update)) is not None
    with pytest.raises(DBAPIError):
        await deliver(engine, update)
