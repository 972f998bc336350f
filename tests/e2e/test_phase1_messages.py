"""Seed phase 1 through real processes: a Telegram update posted to the gateway's webhook
arrives as `message.updated` on a WebSocket subscribed to its project's space — and never on
another project's socket."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tasktracker.contracts.enums import Role

pytestmark = pytest.mark.e2e

CHAT_1, CHAT_2 = -100_777_000_001, -100_777_000_002


def telegram_update(update_id: int, chat_id: int, message_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": f"chat {chat_id}"},
            "from": {"id": 4242, "is_bot": False, "first_name": "Ada", "username": "ada"},
            "text": text,
        },
    }


async def next_frame(socket, within: float = 15.0) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), within))


async def next_message_event(socket, within: float = 15.0) -> dict:
    """The next `message.updated` frame; the project's own earlier events (its configuration,
    the chat binding) may still be arriving when the socket subscribes."""
    async with asyncio.timeout(within):
        while True:
            frame = await next_frame(socket, within)
            if frame.get("type") != "event" or frame["event"]["type"] == "message.updated":
                return frame


async def subscribe(url: str, token: str, topic: str):
    socket = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    await socket.send(json.dumps({"type": "subscribe", "id": "s1", "topic": topic}))
    subscribed = await next_frame(socket)
    assert subscribed["type"] == "subscribed", subscribed
    return socket


async def test_update_reaches_only_its_projects_socket(phase1_stack):
    stack = phase1_stack
    admin = stack.token("root", {}, admin=True)
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ) as rest:
        p1 = (await rest.post("/api/projects", json={"name": "e2e one"})).json()["id"]
        p2 = (await rest.post("/api/projects", json={"name": "e2e two"})).json()["id"]
        for project, chat in ((p1, CHAT_1), (p2, CHAT_2)):
            bound = await rest.post(
                "/api/ingestion/bindings", json={"project_id": project, "chat_id": chat}
            )
            assert bound.status_code == 201, bound.text

    token_1 = stack.token("alice", {p1: Role.viewer})
    token_2 = stack.token("bob", {p2: Role.viewer})
    socket_1 = await subscribe(stack.ws_url, token_1, f"space:{p1}:messages")
    socket_2 = await subscribe(stack.ws_url, token_2, f"space:{p2}:messages")
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as telegram:
            hook = {"X-Telegram-Bot-Api-Secret-Token": stack.webhook_secret}
            sent = await telegram.post(
                "/webhook/telegram",
                json=telegram_update(7_000_001, CHAT_1, 1, "ship the release on Friday"),
                headers=hook,
            )
            assert sent.status_code == 200, sent.text
            frame = await next_message_event(socket_1)
            assert frame["type"] == "event"
            assert frame["topic"] == f"space:{p1}:messages"
            event = frame["event"]
            assert event["type"] == "message.updated"
            assert event["project_id"] == p1
            assert event["data"]["message"]["text"] == "ship the release on Friday"
            assert event["data"]["message"]["chat_id"] == CHAT_1

            # Project 2's own update arrives on its socket — and it is the first message
            # there: project 1's event never reached it.
            sent = await telegram.post(
                "/webhook/telegram",
                json=telegram_update(7_000_002, CHAT_2, 1, "project two only"),
                headers=hook,
            )
            assert sent.status_code == 200
            frame_2 = await next_message_event(socket_2)
            assert frame_2["event"]["project_id"] == p2
            assert frame_2["event"]["data"]["message"]["text"] == "project two only"
            with pytest.raises(TimeoutError):
                await next_message_event(socket_1, within=1.0)
    finally:
        await socket_1.close()
        await socket_2.close()

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as rest:
        mine = await rest.get(
            f"/api/projects/{p1}/messages", headers={"Authorization": f"Bearer {token_1}"}
        )
        assert mine.status_code == 200
        assert "ship the release on Friday" in mine.text
        theirs = await rest.get(
            f"/api/projects/{p2}/messages", headers={"Authorization": f"Bearer {token_1}"}
        )
        assert theirs.status_code == 404


async def test_subscribing_to_another_space_is_refused(phase1_stack):
    stack = phase1_stack
    token = stack.token("mallory", {1: Role.viewer})
    async with websockets.connect(
        stack.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as socket:
        await socket.send(json.dumps({"type": "subscribe", "id": "x", "topic": "space:2:messages"}))
        frame = await next_frame(socket)
        assert frame["type"] == "error"
        assert frame["code"] == 403
