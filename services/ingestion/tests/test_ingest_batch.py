"""Storing a batch of updates in one transaction, over real PostgreSQL (and the real job
stream its bind codes kick releases on): arrival order, dedupe inside a batch, redelivery,
edit ordering, bind codes in the middle of a batch. The worker's consumer of the stream, a
poison update among them: `test_update_consumer.py`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tasktracker.contracts.envelope import Envelope
from tasktracker.ingestion.db import messages
from tasktracker.ingestion.db.models import Message, ParkedUpdate, User, outbox
from tasktracker.ingestion.ingest import Outcome, ingest_batch, prepare
from tasktracker.servicekit.db import session_factory, transaction

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


def test_prepare_accepts_the_webhook_bytes_text_and_a_decoded_update():
    update = sample("text", chat_id=new_chat_id())
    body = json.dumps(update)
    assert prepare(body) == prepare(update) == prepare(body.encode())
    assert prepare(b"\xef\xbb\xbf" + body.encode()) == prepare(update)  # a byte order mark


async def test_an_event_carries_the_message_as_stored_and_raw_is_the_update(
    client, engine, release
):
    """The event's record is built from what was written; the JSON text received is stored
    as `raw` as it is."""
    project_id, chat_id = await bound_project(client)
    original = sample("text", chat_id=chat_id, message_id=50, text="v0 🚀")
    edit = sample("edited", chat_id=chat_id, message_id=50, text="v1", edit_date=1718000001)
    texts = [json.dumps(original), json.dumps(edit, ensure_ascii=False)]
    async with transaction(session_factory(engine)) as session:
        outcomes = await ingest_batch(session, [prepare(t) for t in texts[:1]], release=release)
        outcomes += await ingest_batch(session, [prepare(t.encode()) for t in texts[1:]],
                                       release=release)  # fmt: skip
    assert outcomes == [Outcome.stored, Outcome.stored]
    (row,) = await stored_messages(engine, project_id)
    assert row.raw == edit
    emitted = await events(engine, project_id)
    async with engine.connect() as conn:
        record = messages.to_record(
            (await conn.execute(select(*messages.RECORD_COLUMNS).where(Message.id == row.id))).one()
        )
    assert emitted[-1] == record.model_dump(mode="json")
    assert [e["text"] for e in emitted] == ["v0 🚀", "v1"]
