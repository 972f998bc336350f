"""Storing a batch of updates in one transaction, over real PostgreSQL (and, for the writer,
the real job stream its bind codes kick releases on): arrival order, dedupe inside a batch,
redelivery, edit ordering, a poison update, bind codes in the middle of a batch."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from sqlalchemy import select

from tasktracker.contracts.envelope import Envelope
from tasktracker.ingestion.db.models import ParkedUpdate, User, outbox
from tasktracker.ingestion.ingest import Outcome, PreparedUpdate, ingest_batch, prepare
from tasktracker.ingestion.worker import UpdateWriter
from tasktracker.servicekit.db import is_data_error, session_factory, transaction
from tasktracker.servicekit.worker import WorkerRuntime

from .support import (
    bind_code,
    bound_project,
    create_project,
    new_chat_id,
    new_update_id,
    sample,
    stored_messages,
)

pytestmark = pytest.mark.usefixtures("worker")  # runs the release jobs bindings kick


async def store(engine, updates: list[dict], release) -> list[Outcome]:
    async with transaction(session_factory(engine)) as session:
        return await ingest_batch(session, [prepare(u) for u in updates], release=release)


async def events(engine, project_id: int) -> list[dict]:
    """The project's message.updated events in outbox order: their messages."""
    subject = f"space.{project_id}.messages.message.updated"
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.payload).where(outbox.c.subject == subject).order_by(outbox.c.seq)
        )
        return [Envelope.from_bytes(row.payload).data["message"] for row in rows]


def text_message(chat_id: int, message_id: int) -> dict:
    return sample("text", chat_id=chat_id, message_id=message_id, text=f"m{message_id}")


async def test_a_batch_stores_and_emits_in_arrival_order(client, engine, release):
    project_id, chat_id = await bound_project(client)
    other_project, other_chat = await bound_project(client)
    ids = [5, 3, 9, 1, 7, 2]  # message ids need not be sorted: arrival order is what counts
    updates = [text_message(other_chat if n % 2 else chat_id, i) for n, i in enumerate(ids)]
    assert await store(engine, updates, release) == [Outcome.stored] * len(ids)
    assert [m.message_id for m in await stored_messages(engine, project_id)] == [5, 9, 7]
    assert [e["message_id"] for e in await events(engine, project_id)] == [5, 9, 7]
    assert [e["message_id"] for e in await events(engine, other_project)] == [3, 1, 2]


async def test_a_redelivered_batch_changes_nothing(client, engine, release):
    project_id, chat_id = await bound_project(client)
    updates = [text_message(chat_id, i) for i in range(1, 6)]
    await store(engine, updates, release)
    before = await stored_messages(engine, project_id)
    assert await store(engine, updates, release) == [Outcome.unchanged] * 5
    assert await stored_messages(engine, project_id) == before
    assert len(await events(engine, project_id)) == 5


async def test_versions_of_one_message_in_a_batch_keep_the_newest(client, engine, release):
    """PostgreSQL refuses an ON CONFLICT DO UPDATE touching a row twice: the batch writes one
    version per message, the newest by (edited_at, update_id), whatever order they came in."""
    project_id, chat_id = await bound_project(client)
    original = sample("text", chat_id=chat_id, message_id=40, text="v0")
    edit_1 = sample("edited", chat_id=chat_id, message_id=40, text="v1", edit_date=1718000001)
    edit_2 = sample("edited", chat_id=chat_id, message_id=40, text="v2", edit_date=1718000002)
    other = text_message(chat_id, 41)
    batch = [edit_2, original, other, edit_1, edit_2]  # the newest first, and twice
    outcomes = await store(engine, batch, release)
    stored, superseded = Outcome.stored, Outcome.superseded
    # The first of the two equal newest versions is the one written.
    assert outcomes == [stored, superseded, stored, superseded, superseded]
    rows = {m.message_id: m for m in await stored_messages(engine, project_id)}
    assert rows[40].text == "v2"
    assert rows[40].update_id == edit_2["update_id"]
    assert [(e["message_id"], e["text"]) for e in await events(engine, project_id)] == [
        (40, "v2"),
        (41, "m41"),
    ]
    # An older edit in a later batch never goes backwards.
    assert await store(engine, [edit_1, original], release) == [Outcome.unchanged] * 2
    assert {m.message_id: m.text for m in await stored_messages(engine, project_id)}[40] == "v2"


async def test_one_author_in_many_updates_is_one_user_with_the_newest_name(client, engine, release):
    project_id, chat_id = await bound_project(client)
    older = sample("text", chat_id=chat_id, message_id=50, date=1718000000)
    newer = sample("text", chat_id=chat_id, message_id=51, date=1718000100)
    author = new_update_id()  # an account no other test writes
    for update, name in ((older, "Old"), (newer, "New")):
        update["message"]["from"].update(id=author, first_name=name)
    assert await store(engine, [newer, older], release) == [Outcome.stored] * 2
    rows = await stored_messages(engine, project_id)
    assert rows[0].user_id == rows[1].user_id is not None
    async with engine.connect() as conn:
        name = await conn.scalar(select(User.display_name).where(User.id == rows[0].user_id))
    assert name.startswith("New")  # the newest sighting, though it came first


async def test_a_bind_code_in_a_batch_parks_what_came_before_and_stores_what_came_after(
    client, engine, release
):
    project_id = await create_project(client)
    code = await bind_code(client, project_id)
    chat_id = new_chat_id()
    before = text_message(chat_id, 60)
    posting = sample("text", chat_id=chat_id, message_id=61, text=f"/bind {code}")
    after = text_message(chat_id, 62)
    outcomes = await store(engine, [before, posting, after], release)
    assert outcomes == [Outcome.parked, Outcome.bound, Outcome.stored]
    async with engine.connect() as conn:
        parked = await conn.scalars(
            select(ParkedUpdate.update_id).where(ParkedUpdate.chat_id == chat_id)
        )
        assert list(parked) == [before["update_id"]]


async def test_a_poison_update_fails_only_its_own_job(client, app, engine, settings):
    """Through the worker's UpdateWriter: the batch fails, is stored again update by update,
    and only the update PostgreSQL refuses fails its job (a data error: parked at once)."""
    project_id, chat_id = await bound_project(client)
    runtime = WorkerRuntime(settings.model_copy(update={"relay_enabled": False}))
    await runtime.start()
    writer = UpdateWriter(runtime, app.state.runtime.job_broker, settings)
    try:
        good = [prepare(text_message(chat_id, i)) for i in (70, 71, 73)]
        bad = prepare(text_message(chat_id, 72))
        # What a parser bug would hand over: an id beyond the column's 64 bits.
        poison = PreparedUpdate(bad.payload, dataclasses.replace(bad.item, message_id=2**63))
        batch = [good[0], good[1], poison, good[2]]
        results = await asyncio.gather(*(writer.submit(u) for u in batch), return_exceptions=True)
    finally:
        await writer.close()
        await runtime.stop()
    assert results[:2] == [Outcome.stored, Outcome.stored]
    assert is_data_error(results[2]), repr(results[2])
    assert results[3] is Outcome.stored
    assert [m.message_id for m in await stored_messages(engine, project_id)] == [70, 71, 73]
    assert [e["message_id"] for e in await events(engine, project_id)] == [70, 71, 73]
    assert writer.batches == 1 + len(batch)  # the batch, then each update alone


def test_prepare_accepts_the_webhook_text_and_a_decoded_update():
    update = sample("text", chat_id=new_chat_id())
    assert prepare(json.dumps(update)) == prepare(update)
