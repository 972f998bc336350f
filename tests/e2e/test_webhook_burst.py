"""A burst of 5,000 Telegram updates through the gateway's webhook, 20 chats posting at once
(each chat's updates one after the other, as Telegram sends them), with a socket subscribed to
the project's space: every message is stored once, delivered once, and in each chat's order.

The waits follow progress (they end when nothing new arrived for STALL seconds), not a fixed
time: on a busy 2-core machine the worker stores fewer than 200 messages per second today.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import httpx
import pytest
import websockets

from tasktracker.contracts.enums import Role

pytestmark = pytest.mark.e2e

CHATS = [-100_666_000_000 - n for n in range(20)]  # one connection each
PER_CHAT = 250  # 5,000 updates in all
STALL = 30.0


def telegram_update(update_id: int, chat_id: int, message_id: int) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": f"burst {chat_id}"},
            "from": {"id": 4243, "is_bot": False, "first_name": "Bo", "username": "bo"},
            "text": f"burst message {message_id} of chat {chat_id}",
        },
    }


@dataclass
class Burst:
    posted: int
    delivered: list[tuple[int, int]]  # (chat_id, message_id) in the socket's order
    stored: list[tuple[int, int]]


async def bind(rest: httpx.AsyncClient, project: int, chat: int) -> None:
    """A global admin binds directly (`POST /api/ingestion/bindings`)."""
    bound = await rest.post(
        "/api/ingestion/bindings", json={"project_id": project, "chat_id": chat}
    )
    assert bound.status_code in (200, 201), bound.text


async def wait_for_progress(progress, goal: int) -> None:
    """Until progress() reaches goal, or STALL seconds pass without it moving."""
    last, changed = -1, time.monotonic()
    while (now := progress()) < goal:
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed > STALL:
            return
        await asyncio.sleep(0.2)


async def read_events(socket, delivered: list[tuple[int, int]]) -> None:
    async for raw in socket:
        frame = json.loads(raw)
        if frame.get("type") == "event" and frame["event"]["type"] == "message.updated":
            message = frame["event"]["data"]["message"]
            delivered.append((message["chat_id"], message["message_id"]))


async def stored_messages(rest: httpx.AsyncClient, project: int) -> list[tuple[int, int]]:
    stored, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = await rest.get(f"/api/projects/{project}/messages", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        stored += [(m["chat_id"], m["message_id"]) for m in body["items"]]
        if not (cursor := body["next_cursor"]):
            return stored


@pytest.fixture(scope="module")
async def burst(phase1_stack) -> Burst:
    stack = phase1_stack
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    ) as rest:
        project = (await rest.post("/api/projects", json={"name": "e2e burst"})).json()["id"]
        for chat in CHATS:
            await bind(rest, project, chat)

    viewer = stack.token("viewer", {project: Role.viewer})
    socket = await websockets.connect(
        stack.ws_url, additional_headers={"Authorization": f"Bearer {viewer}"}
    )
    topic = f"space:{project}:messages"
    await socket.send(json.dumps({"type": "subscribe", "id": "burst", "topic": topic}))
    assert json.loads(await socket.recv())["type"] == "subscribed"
    delivered: list[tuple[int, int]] = []
    reader = asyncio.create_task(read_events(socket, delivered))

    hook = {"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret}
    limits = httpx.Limits(max_connections=len(CHATS))
    base = 8_000_000_000 + project * 10_000

    async def post_chat(telegram: httpx.AsyncClient, index: int, chat: int) -> None:
        for message_id in range(1, PER_CHAT + 1):
            update = telegram_update(base + index * PER_CHAT + message_id, chat, message_id)
            sent = await telegram.post("/webhook/telegram", json=update, headers=hook)
            assert sent.status_code == 200, sent.text

    try:
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, limits=limits, timeout=30
        ) as telegram:
            await asyncio.gather(*(post_chat(telegram, i, c) for i, c in enumerate(CHATS)))
        posted = len(CHATS) * PER_CHAT
        await wait_for_progress(lambda: len(delivered), posted)
        await asyncio.sleep(1)  # a duplicate would arrive just after the last message
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await socket.close()

    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {viewer}"}, timeout=30
    ) as rest:
        stored = await stored_messages(rest, project)
    return Burst(posted=posted, delivered=delivered, stored=stored)


def every_message() -> set[tuple[int, int]]:
    return {(chat, n) for chat in CHATS for n in range(1, PER_CHAT + 1)}


async def test_every_message_of_the_burst_is_stored_once(burst):
    assert len(burst.stored) == burst.posted
    assert set(burst.stored) == every_message()


async def test_every_message_of_the_burst_is_delivered_once(burst):
    twice = [key for key, n in Counter(burst.delivered).items() if n > 1]
    missing = every_message() - set(burst.delivered)
    assert not missing, f"{len(missing)} never delivered, e.g. {sorted(missing)[:5]}"
    assert not twice, f"{len(twice)} delivered more than once, e.g. {twice[:5]}"


async def test_each_chat_is_delivered_in_its_order(burst):
    by_chat: dict[int, list[int]] = defaultdict(list)
    for chat, message_id in burst.delivered:
        by_chat[chat].append(message_id)
    out_of_order = {
        chat: sum(1 for a, b in itertools.pairwise(ids) if b < a) for chat, ids in by_chat.items()
    }
    assert not any(out_of_order.values()), f"messages out of order per chat: {out_of_order}"
