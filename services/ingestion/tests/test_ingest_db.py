"""The ingest layer against real PostgreSQL: races are decided by the database, and an update
holding what PostgreSQL can't store is repaired or recorded as unusable, never a failing job."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from tasktracker.ingestion.binding import bind_chat
from tasktracker.ingestion.db.models import Message, ParkedUpdate, outbox
from tasktracker.ingestion.ingest import Outcome, ingest_update
from tasktracker.servicekit.db import create_engine, session_factory, transaction

from .support import (
    HOSTILE,
    bound_project,
    create_project,
    hostile_update,
    new_chat_id,
    sample,
    skipped_update,
    stored_messages,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("worker")  # runs the release jobs bindings kick


async def deliver(engine, update: dict, release) -> Outcome:
    async with transaction(session_factory(engine)) as session:
        return await ingest_update(session, update, release=release)


async def count(engine, stmt) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(stmt)


def events_of(project_id: int):
    subject = f"space.{project_id}.messages.message.updated"
    return select(func.count()).select_from(outbox).where(outbox.c.subject == subject)


async def test_concurrent_deliveries_of_one_update_store_once(client, engine, release):
    project_id, chat_id = await bound_project(client)
    update = sample("text", chat_id=chat_id)
    outcomes = await asyncio.gather(*(deliver(engine, update, release) for _ in range(8)))
    assert sorted(outcomes) == sorted([Outcome.stored] + [Outcome.unchanged] * 7)
    messages = select(func.count()).where(Message.project_id == project_id)
    assert await count(engine, messages) == 1
    assert await count(engine, events_of(project_id)) == 1


async def test_concurrent_edits_apply_only_newer_versions(client, engine, release):
    project_id, chat_id = await bound_project(client)
    edits = [
        sample("edited", chat_id=chat_id, text=f"v{n}", edit_date=1718000000 + n)
        for n in range(1, 11)
    ]
    await asyncio.gather(*(deliver(engine, update, release) for update in edits))
    original = sample("text", chat_id=chat_id)  # arriving last
    await deliver(engine, original, release)
    async with engine.connect() as conn:
        [text] = (
            await conn.execute(select(Message.text).where(Message.project_id == project_id))
        ).scalars()
    assert text == "v10"
    assert 1 <= await count(engine, events_of(project_id)) <= 10


async def test_same_second_edits_are_ordered_by_update_id(client, engine, release):
    project_id, chat_id = await bound_project(client)
    first = sample("edited", chat_id=chat_id, text="first", edit_date=1718000100)
    second = sample("edited", chat_id=chat_id, text="second", edit_date=1718000100)
    assert await deliver(engine, second, release) is Outcome.stored
    assert await deliver(engine, first, release) is Outcome.unchanged
    assert await deliver(engine, second, release) is Outcome.unchanged
    async with engine.connect() as conn:
        stored = select(Message.text).where(Message.project_id == project_id)
        assert (await conn.execute(stored)).scalar_one() == "second"


async def test_binding_while_updates_arrive_loses_nothing(client, engine, release):
    """Each update either is parked before the bind releases parked ones, or sees the bind."""
    project_id = await create_project(client)
    chat_id = new_chat_id()
    updates = [sample("text", chat_id=chat_id, message_id=n) for n in range(1, 41)]

    async def deliver_later(n: int, update: dict) -> Outcome:
        await asyncio.sleep(n * 0.005)
        return await deliver(engine, update, release)

    async def bind_midway():
        await asyncio.sleep(0.1)
        bind_engine = create_engine(str(engine.url.render_as_string(hide_password=False)))
        try:
            async with transaction(session_factory(bind_engine)) as session:
                return await bind_chat(
                    session,
                    project_id=project_id,
                    chat_id=chat_id,
                    title=None,
                    actor="test",
                    release=release,
                )
        finally:
            await bind_engine.dispose()

    *outcomes, bound = await asyncio.gather(
        *(deliver_later(n, update) for n, update in enumerate(updates)), bind_midway()
    )
    assert set(outcomes) <= {Outcome.stored, Outcome.parked}
    assert bound.released_parked == outcomes.count(Outcome.parked)

    async def all_stored():
        return len(await stored_messages(engine, project_id)) == len(updates)

    await wait_for(all_stored)  # the parked ones by the release job
    waiting = select(func.count()).where(
        ParkedUpdate.chat_id == chat_id, ParkedUpdate.released_at.is_(None)
    )
    assert await count(engine, waiting) == 0
    assert await count(engine, events_of(project_id)) == len(updates)


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_what_postgresql_cannot_store_is_repaired_or_recorded_never_a_failing_job(
    client, engine, case, release
):
    """Each of these once failed in the worker on every try (so the webhook refused it)."""
    project_id, chat_id = await bound_project(client)
    update, expected = hostile_update(case, chat_id)
    update = json.loads(json.dumps(update))  # as the worker receives it
    outcome = await deliver(engine, update, release)
    assert outcome == expected
    if expected == "stored":
        [row] = await stored_messages(engine, project_id)
        assert "\x00" not in json.dumps(row.raw) and "\\u0000" not in json.dumps(row.raw)
        return
    skipped = await skipped_update(engine, update["update_id"])
    assert skipped is not None and skipped.update_kind == "message" and skipped.reason
    assert await stored_messages(engine, project_id) == []
    # A redelivery changes nothing.
    assert await deliver(engine, update, release) == Outcome.unusable


async def test_repaired_text_is_stored_with_replacement_characters(client, engine, release):
    project_id, chat_id = await bound_project(client)
    update = sample("text", chat_id=chat_id, text="a\x00b\ud800c")
    update["message"]["extra"] = {"n": float("nan"), "k\x00": 10**30}
    assert await deliver(engine, update, release) == Outcome.stored
    [row] = await stored_messages(engine, project_id)
    assert row.text == "a\ufffdb\ufffdc"
    assert row.raw["message"]["extra"] == {"n": "NaN", "k\ufffd": 10**30}
