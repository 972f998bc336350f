"""A chat bound to no project: its updates are parked, and binding it ingests them in order."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from taskiq.kicker import AsyncKicker

from tasktracker.ingestion.db.models import ParkedUpdate
from tasktracker.ingestion.queue import SAVE_TELEGRAM_MESSAGE

from .support import (
    bind,
    create_project,
    drained,
    new_chat_id,
    post_update,
    sample,
    settled_events,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("worker")


async def parked_for(client, chat_id: int) -> list[dict]:
    response = await client.get("/api/ingestion/parked", params={"chat_id": chat_id})
    assert response.status_code == 200
    return response.json()["items"]


async def test_parked_filter_beyond_bigint_is_422(client):
    response = await client.get("/api/ingestion/parked", params={"chat_id": 10**20})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["query", "chat_id"]


async def test_unbound_chat_is_parked_then_released_into_the_project_on_bind(client, engine, js):
    chat_id = new_chat_id()
    updates = [
        sample("text", chat_id=chat_id),
        sample("reply", chat_id=chat_id),
        sample("photo_caption", chat_id=chat_id),
        sample("edited", chat_id=chat_id),
    ]
    for update in updates:
        assert (await post_update(client, update)).status_code == 200

    async def all_parked():
        items = await parked_for(client, chat_id)
        return items if len(items) == len(updates) else None

    parked = await wait_for(all_parked)
    assert [item["update_id"] for item in parked] == [u["update_id"] for u in updates]
    assert parked[0]["chat_title"] == "Acme Team"
    assert parked[0]["payload"] == updates[0]
    assert {item["update_kind"] for item in parked} == {"message", "edited_message"}
    stats = (await client.get("/api/ingestion/stats")).json()
    assert stats["parked_waiting"] >= len(updates)

    project_id = await create_project(client)
    response = await bind(client, project_id, chat_id)
    assert response.status_code == 201
    assert response.json()["released_parked"] == len(updates)

    async def released():  # by the release job, after the binding committed
        return await parked_for(client, chat_id) == []

    await wait_for(released)
    page = (await client.get(f"/api/projects/{project_id}/messages")).json()
    assert [m["message_id"] for m in page["items"]] == [1501, 1502, 1504]
    texts = {m["message_id"]: m["text"] for m in page["items"]}
    assert texts[1501].endswith("before Thursday's release?")  # the parked edit applied

    events = await settled_events(js, engine, project_id, at_least=6, event_type=None)
    assert [e.type for e in events] == [
        "ingestion.project_configured",
        "ingestion.chat_bound",
        *["message.updated"] * 4,
    ]
    assert events[1].data == {"chat_id": chat_id, "released_parked": 4}
    assert [e.data["message"]["message_id"] for e in events[2:]] == [1501, 1502, 1504, 1501]

    # From now on the chat's updates go straight to the project.
    assert (await post_update(client, sample("sticker", chat_id=chat_id))).status_code == 200
    await settled_events(js, engine, project_id, at_least=5)
    assert await parked_for(client, chat_id) == []


async def test_redelivered_parked_update_is_parked_once(client, app, js, settings):
    chat_id = new_chat_id()
    update = sample("text", chat_id=chat_id)
    kicker = AsyncKicker(SAVE_TELEGRAM_MESSAGE, app.state.runtime.job_broker, labels={})
    for n in range(3):
        await kicker.with_task_id(f"redelivery-{n}-{chat_id}").kiq(update)
    await wait_for(lambda: drained(js, settings))
    assert len(await parked_for(client, chat_id)) == 1


async def test_unbinding_parks_again(client, engine, js):
    project_id = await create_project(client)
    chat_id = new_chat_id()
    assert (await bind(client, project_id, chat_id)).status_code == 201
    assert (await client.delete(f"/api/projects/{project_id}/sources/{chat_id}")).status_code == 204
    assert (await post_update(client, sample("text", chat_id=chat_id))).status_code == 200

    async def parked():
        return await parked_for(client, chat_id)

    assert len(await wait_for(parked)) == 1
    page = (await client.get(f"/api/projects/{project_id}/messages")).json()
    assert page["items"] == []


async def test_a_large_backlog_is_released_in_order_in_chunks(client, engine, js, settings):
    """More parked updates than one chunk (the setting is 200): each chunk commits on its own,
    and the messages' events keep Telegram's order across chunks."""
    chat_id = new_chat_id()
    total = settings.release_chunk_size + 30
    for n in range(1, total + 1):
        update = sample("text", chat_id=chat_id, message_id=n, text=f"m{n}")
        assert (await post_update(client, update)).status_code == 200

    async def all_parked():
        response = await client.get(
            "/api/ingestion/parked", params={"chat_id": chat_id, "limit": 500}
        )
        return len(response.json()["items"]) == total

    await wait_for(all_parked, within=120)
    project_id = await create_project(client)
    response = await bind(client, project_id, chat_id)
    assert response.json()["released_parked"] == total
    events = await settled_events(js, engine, project_id, at_least=total)
    assert [e.data["message"]["message_id"] for e in events] == list(range(1, total + 1))
    async with engine.connect() as conn:
        released_at = (
            await conn.execute(
                select(ParkedUpdate.released_at).where(ParkedUpdate.chat_id == chat_id).distinct()
            )
        ).scalars()
        assert len(set(released_at)) == 2  # two transactions: one per chunk
