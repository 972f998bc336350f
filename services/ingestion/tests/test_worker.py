"""Webhook → JetStream → `tasktracker-ingestion worker` (a real process) → PostgreSQL → outbox
→ `message.updated` on the SPACES stream. Nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from taskiq.kicker import AsyncKicker

from tasktracker.contracts.events import MessageUpdated, decode_event
from tasktracker.ingestion.db.models import TelegramProfile, User
from tasktracker.ingestion.queue import SAVE_TELEGRAM_MESSAGE
from tasktracker.ingestion.storable import INT64_MAX, INT64_MIN

from .support import (
    bound_project,
    drained,
    post_update,
    sample,
    settled_events,
    stored_messages,
    updates_last_seq,
    wait_for,
)

pytestmark = __import__("pytest").mark.usefixtures("worker")


async def stored_count(engine, project_id: int, n: int = 1):
    async def check():
        rows = await stored_messages(engine, project_id)
        return rows if len(rows) >= n else None

    return await wait_for(check)


def updated_messages(events) -> list:
    return [decode_event(e).message for e in events if e.type == MessageUpdated.event_type]


async def test_message_is_stored_with_author_and_event(client, engine, js, settings):
    project_id, chat_id = await bound_project(client)
    update = sample("text", chat_id=chat_id)
    assert (await post_update(client, update)).status_code == 200

    [row] = await stored_count(engine, project_id)
    assert (row.chat_id, row.message_id, row.update_id) == (chat_id, 1501, update["update_id"])
    assert row.kind == "text" and row.text.startswith("@bob can you fix")
    [event] = await settled_events(js, engine, project_id)
    assert event.subject == f"space.{project_id}.messages.message.updated"
    assert event.producer == "ingestion"
    record = decode_event(event).message
    assert record.id == row.id and record.project_id == project_id
    assert record.author.display_name == "Alice Nguyen"
    assert record.author.telegram_user_id == 111111111
    assert record.author.user_id == row.user_id is not None
    assert record.sent_at == row.sent_at and record.edited_at is None

    api = (await client.get(f"/api/projects/{project_id}/messages/{row.id}")).json()
    assert api == record.model_dump(mode="json")


async def test_same_update_posted_five_times_stores_one_message_one_event(
    client, engine, js, settings
):
    project_id, chat_id = await bound_project(client)
    update = sample("text", chat_id=chat_id)
    before = await updates_last_seq(js, settings)
    for _ in range(3):
        assert (await post_update(client, update)).status_code == 200
    concurrent = await asyncio.gather(post_update(client, update), post_update(client, update))
    assert [r.status_code for r in concurrent] == [200, 200]
    # The message id comes from update_id: JetStream's duplicate window dropped the repeats.
    assert await updates_last_seq(js, settings) == before + 1

    await stored_count(engine, project_id)
    await wait_for(lambda: drained(js, settings))
    events = await settled_events(js, engine, project_id)
    assert len(await stored_messages(engine, project_id)) == 1
    assert len(events) == 1


async def test_redelivered_and_concurrent_jobs_store_one_message_one_event(
    client, app, engine, js, settings
):
    """Past the duplicate window (or redelivered by JetStream) the worker itself dedups; and
    `save_telegram_message` jobs, as an older API queued updates, are still run."""
    project_id, chat_id = await bound_project(client)
    update = sample("reply", chat_id=chat_id)
    broker = app.state.runtime.job_broker
    kicker = AsyncKicker(SAVE_TELEGRAM_MESSAGE, broker, labels={})
    await asyncio.gather(*(kicker.with_task_id(str(uuid.uuid4())).kiq(update) for _ in range(4)))
    await wait_for(lambda: drained(js, settings))
    rows = await stored_count(engine, project_id)
    events = await settled_events(js, engine, project_id)
    assert len(rows) == 1 and rows[0].reply_to_message_id == 1501
    assert len(events) == 1


async def test_edits_in_order_newest_text_wins(client, engine, js, settings):
    project_id, chat_id = await bound_project(client)
    original = sample("text", chat_id=chat_id, message_id=77)
    first = sample("edited", chat_id=chat_id, message_id=77, text="v2", edit_date=1718000060)
    second = sample("edited", chat_id=chat_id, message_id=77, text="v3", edit_date=1718000120)
    for n, update in enumerate((original, first, second), start=1):
        assert (await post_update(client, update)).status_code == 200
        await settled_events(js, engine, project_id, at_least=n)

    [row] = await stored_messages(engine, project_id)
    assert row.text == "v3" and row.edited_at.timestamp() == 1718000120
    events = await settled_events(js, engine, project_id, at_least=3)
    texts = [m.text for m in updated_messages(events)]
    assert texts[1:] == ["v2", "v3"] and len(texts) == 3
    assert {m.id for m in updated_messages(events)} == {row.id}


async def test_edits_out_of_order_newest_text_wins(client, engine, js, settings):
    project_id, chat_id = await bound_project(client)
    original = sample("text", chat_id=chat_id, message_id=78)
    first = sample("edited", chat_id=chat_id, message_id=78, text="v2", edit_date=1718000060)
    second = sample("edited", chat_id=chat_id, message_id=78, text="v3", edit_date=1718000120)
    assert (await post_update(client, second)).status_code == 200
    await stored_count(engine, project_id)
    for late in (first, original):
        assert (await post_update(client, late)).status_code == 200
    await wait_for(lambda: drained(js, settings))

    [row] = await stored_messages(engine, project_id)
    assert row.text == "v3" and row.edited_at.timestamp() == 1718000120
    events = await settled_events(js, engine, project_id)
    assert [m.text for m in updated_messages(events)] == ["v3"]


async def test_edits_racing_each_other_leave_the_newest(client, app, engine, js, settings):
    project_id, chat_id = await bound_project(client)
    versions = [
        sample("edited", chat_id=chat_id, message_id=79, text=f"v{n}", edit_date=1718000000 + n)
        for n in range(1, 9)
    ]
    await asyncio.gather(*(post_update(client, update) for update in reversed(versions)))
    await wait_for(lambda: drained(js, settings))
    [row] = await stored_count(engine, project_id)
    assert row.text == "v8"
    events = await settled_events(js, engine, project_id)
    assert updated_messages(events)[-1].text == "v8"


async def test_every_message_kind_is_stored(client, engine, js, settings):
    project_id, chat_id = await bound_project(client)
    names = ["text", "reply", "forward", "photo_caption", "sticker", "service_new_members"]
    for name in names:
        assert (await post_update(client, sample(name, chat_id=chat_id))).status_code == 200
    rows = await stored_count(engine, project_id, len(names))
    by_id = {row.message_id: row for row in rows}
    assert by_id[1503].forwarded_from == "Carol Diaz (@carol_qa)"
    assert by_id[1502].reply_to_message_id == 1501
    assert (by_id[1504].kind, by_id[1504].text[:10]) == ("photo", "Screenshot")
    assert (by_id[1505].kind, by_id[1505].text) == ("sticker", "")
    assert (by_id[1506].kind, by_id[1506].text) == ("service", "")
    events = await settled_events(js, engine, project_id, at_least=len(names))
    assert len(events) == len(names)


async def test_channel_post_and_its_edit(client, engine, js, settings):
    project_id, chat_id = await bound_project(client)
    await post_update(client, sample("channel_post", chat_id=chat_id))
    await stored_count(engine, project_id)
    await post_update(client, sample("edited_channel_post", chat_id=chat_id))
    events = await settled_events(js, engine, project_id, at_least=2)
    [row] = await stored_messages(engine, project_id)
    assert "June 15" in row.text and row.user_id is None
    assert updated_messages(events)[-1].author.display_name == "Acme Announcements (Dana Lee)"


async def test_user_and_profile_are_upserted_and_never_hold_urls(client, engine, settings):
    project_id, chat_id = await bound_project(client)
    telegram_id = 900000000 + abs(chat_id) % 10**6
    author = {"id": telegram_id, "is_bot": False, "first_name": "Frank", "username": "frank"}
    renamed = {**author, "first_name": "Franklin", "last_name": "Moss"}
    await post_update(client, sample("text", chat_id=chat_id, message_id=1, **{"from": author}))
    await stored_count(engine, project_id)
    await post_update(client, sample("text", chat_id=chat_id, message_id=2, **{"from": renamed}))
    rows = await stored_count(engine, project_id, 2)
    assert rows[0].user_id == rows[1].user_id

    async with engine.connect() as conn:
        profile = (
            await conn.execute(
                select(TelegramProfile).where(TelegramProfile.telegram_user_id == telegram_id)
            )
        ).one()
        user = (await conn.execute(select(User).where(User.id == profile.user_id))).one()
    assert (profile.first_name, profile.last_name, profile.username) == (
        "Franklin",
        "Moss",
        "frank",
    )
    assert user.display_name == "Franklin Moss" and user.identity == f"telegram:{telegram_id}"
    stored = " ".join(str(value) for value in (*profile, *user))
    assert "http" not in stored and "bot" not in stored.lower().replace("is_bot", "")


async def test_other_update_kinds_are_acknowledged_and_counted(client, engine, js, settings):
    before = (await client.get("/api/ingestion/stats")).json()["skipped_by_kind"]
    for name in ("my_chat_member", "unknown_kind"):
        update = sample(name, chat_id=0)
        assert (await post_update(client, update)).status_code == 200
    await wait_for(lambda: drained(js, settings))

    async def counted():
        skipped = (await client.get("/api/ingestion/stats")).json()["skipped_by_kind"]
        return skipped if skipped != before else None

    skipped = await wait_for(counted)
    assert skipped.get("my_chat_member", 0) == before.get("my_chat_member", 0) + 1
    assert skipped.get("message_story_reaction", 0) == before.get("message_story_reaction", 0) + 1


async def test_the_edges_of_what_the_webhook_accepts_are_stored(client, engine, js):
    project_id, chat_id = await bound_project(client)
    text = "✅ naïve 🚀 \u2028 end"
    update = sample("text", chat_id=chat_id, message_id=INT64_MAX, text=text)
    update["message"]["reply_to_message"] = {
        "message_id": INT64_MIN,
        "date": -62135596800,  # 0001-01-01T00:00:00Z
        "chat": update["message"]["chat"],
    }
    update["message"]["extra"] = {"big": 1e308, "tiny": -1e-308, "key 🚀": [INT64_MIN, ""]}
    assert (await post_update(client, update)).status_code == 200
    [row] = await stored_count(engine, project_id)
    assert (row.message_id, row.reply_to_message_id, row.text) == (INT64_MAX, INT64_MIN, text)
    extra = row.raw["message"]["extra"]  # jsonb keeps numbers as numeric: 1e308 comes back an int
    assert (float(extra["big"]), extra["tiny"], extra["key 🚀"]) == (
        1e308,
        -1e-308,
        [INT64_MIN, ""],
    )
    [event] = await settled_events(js, engine, project_id)
    assert decode_event(event).message.message_id == INT64_MAX
