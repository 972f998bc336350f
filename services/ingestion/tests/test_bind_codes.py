"""Binding a chat needs proof: a one-time code from the project, posted in the chat.

Through the real webhook and the real worker process, on real PostgreSQL and JetStream.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest
from sqlalchemy import select, update
from taskiq.kicker import AsyncKicker

from tasktracker.ingestion.bindcodes import code_in, digest
from tasktracker.ingestion.db.models import BindCode
from tasktracker.ingestion.queue import SAVE_TELEGRAM_MESSAGE

from .support import (
    bind,
    bind_code,
    bound_project,
    create_project,
    drained,
    new_chat_id,
    post_update,
    sample,
    settled_events,
    stored_messages,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("worker")


async def sources(client, project_id: int) -> list[int]:
    return [s["chat_id"] for s in (await client.get(f"/api/projects/{project_id}/sources")).json()]


async def parked_for(client, chat_id: int) -> list[dict]:
    response = await client.get("/api/ingestion/parked", params={"chat_id": chat_id})
    return response.json()["items"]


async def settle(js, settings) -> None:
    await wait_for(lambda: drained(js, settings))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("/bind K7QM-2XPA", "K7QM2XPA"),
        ("/bind@acme_tasktracker_bot k7qm2xpa", "K7QM2XPA"),
        ("  K7QM-2XPA\n", "K7QM2XPA"),
        ("k7qm-2xpa", "K7QM2XPA"),
        ("K7QM2XPA", None),  # a plain message must be the code as issued, with its dash
        ("please /bind K7QM-2XPA", None),
        ("/bind K7QM-2XPA now", None),
        ("/bind K7QM-2XPU", None),  # U is not in the alphabet
        ("THURSDAY", None),
    ],
)
def test_what_counts_as_posting_a_code(text, found):
    assert code_in(text) == found


async def test_a_code_is_short_random_single_use_and_stored_hashed(client, engine):
    project_id = await create_project(client)
    response = await client.post(f"/api/projects/{project_id}/sources/bind-codes")
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", body["code"])
    assert f"/bind {body['code']}" in body["instructions"] and body["expires_at"]
    again = await client.post(f"/api/projects/{project_id}/sources/bind-codes")
    assert again.json()["code"] != body["code"]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(BindCode).where(BindCode.project_id == project_id))).all()
    assert len(rows) == 2 and digest(body["code"]) in {row.digest for row in rows}
    assert all(body["code"].replace("-", "") not in row.digest for row in rows)


async def test_posting_the_code_binds_the_chat_and_releases_its_history(
    client, app, engine, js, settings
):
    chat_id = new_chat_id()
    history = [sample("text", chat_id=chat_id), sample("reply", chat_id=chat_id)]
    for item in history:
        assert (await post_update(client, item)).status_code == 200
    await wait_for(lambda: _count(parked_for(client, chat_id), 2))

    project_id = await create_project(client)
    code = await bind_code(client, project_id)
    command = sample("text", chat_id=chat_id, message_id=1600, text=f"/bind {code}")
    assert (await post_update(client, command)).status_code == 200

    events = await settled_events(js, engine, project_id, at_least=4, event_type=None)
    assert [e.type for e in events] == [
        "ingestion.project_configured",
        "ingestion.chat_bound",
        "message.updated",
        "message.updated",
    ]
    assert events[1].data == {"chat_id": chat_id, "released_parked": 2}
    assert await sources(client, project_id) == [chat_id]
    [source] = (await client.get(f"/api/projects/{project_id}/sources")).json()
    assert (source["bound_by"], source["title"]) == ("pm@example.com", "Acme Team")
    # The code itself is no chat content: neither stored nor parked.
    assert [row.message_id for row in await stored_messages(engine, project_id)] == [1501, 1502]
    assert await parked_for(client, chat_id) == []

    # Redelivered past the duplicate window, the /bind message is still no content.
    kicker = AsyncKicker(SAVE_TELEGRAM_MESSAGE, app.state.runtime.job_broker, labels={})
    await kicker.with_task_id(str(uuid.uuid4())).kiq(json.dumps(command))
    await wait_for(lambda: drained(js, settings))
    assert len(await stored_messages(engine, project_id)) == 2

    # Used once: posted in another chat, it is an ordinary message there.
    other_chat = new_chat_id()
    await post_update(client, sample("text", chat_id=other_chat, text=f"/bind {code}"))
    await wait_for(lambda: _count(parked_for(client, other_chat), 1))
    assert await sources(client, project_id) == [chat_id]


async def test_the_code_may_be_posted_alone_or_addressed_to_the_bot(client, js, settings):
    for text in ("{code}", "/bind@acme_tasktracker_bot {code}"):
        project_id = await create_project(client)
        chat_id = new_chat_id()
        code = (await bind_code(client, project_id)).lower()
        await post_update(client, sample("text", chat_id=chat_id, text=text.format(code=code)))
        await settle(js, settings)
        assert await sources(client, project_id) == [chat_id]


async def test_a_chat_bound_elsewhere_is_answered_like_an_unknown_chat(
    client, engine, js, settings
):
    """The code binds nothing and stays unused; the other project sees an ordinary message."""
    owner, chat_id = await bound_project(client)
    project_id = await create_project(client)
    code = await bind_code(client, project_id)
    await post_update(client, sample("text", chat_id=chat_id, text=f"/bind {code}"))
    await settle(js, settings)
    assert await sources(client, project_id) == []
    assert [row.text for row in await stored_messages(engine, owner)] == [f"/bind {code}"]

    free_chat = new_chat_id()  # the code was not used up
    await post_update(client, sample("text", chat_id=free_chat, text=code))
    await settle(js, settings)
    assert await sources(client, project_id) == [free_chat]


async def test_an_expired_code_binds_nothing(client, engine, js, settings):
    project_id = await create_project(client)
    code = await bind_code(client, project_id)
    async with engine.begin() as conn:
        await conn.execute(
            update(BindCode)
            .where(BindCode.digest == digest(code))
            .values(expires_at=BindCode.created_at)
        )
    chat_id = new_chat_id()
    await post_update(client, sample("text", chat_id=chat_id, text=f"/bind {code}"))
    await wait_for(lambda: _count(parked_for(client, chat_id), 1))
    assert await sources(client, project_id) == []


async def test_two_chats_racing_for_one_code_one_wins(client, js, settings):
    project_id = await create_project(client)
    code = await bind_code(client, project_id)
    chats = [new_chat_id() for _ in range(4)]
    await asyncio.gather(
        *(post_update(client, sample("text", chat_id=c, text=f"/bind {code}")) for c in chats)
    )
    await settle(js, settings)
    [winner] = await sources(client, project_id)
    assert winner in chats


async def test_a_global_admin_binds_directly_and_the_code_path_cannot_steal_it(
    client, js, settings
):
    project_id = await create_project(client)
    chat_id = new_chat_id()
    assert (await bind(client, project_id, chat_id)).status_code == 201
    thief = await create_project(client)
    code = await bind_code(client, thief)
    await post_update(client, sample("text", chat_id=chat_id, text=code))
    await settle(js, settings)
    assert await sources(client, thief) == []
    assert await sources(client, project_id) == [chat_id]


async def _count(items, n: int) -> bool:
    return len(await items) == n
