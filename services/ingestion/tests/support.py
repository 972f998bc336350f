"""Helpers for the ingestion tests: samples with fresh ids, stream and database probes."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import Numeric, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tasktracker.contracts.envelope import Envelope, RawEnvelope
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.ingestion.db.models import Message, SkippedUpdate, outbox
from tasktracker.ingestion.domain import MESSAGE_UPDATE_KINDS
from tasktracker.ingestion.settings import IngestionSettings
from tests.fixtures.jetstream import stream_messages

SAMPLES = Path(__file__).with_name("samples")
SECRET = "test_webhook-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Ids unique to this test session, so that tests never see each other's chats or updates.
_base = secrets.randbelow(10**6) * 10**4
_update_ids = itertools.count(10**8 + _base)
_chat_ids = itertools.count(-(10**12) - _base, -1)


def new_chat_id() -> int:
    return next(_chat_ids)


def new_update_id() -> int:
    return next(_update_ids)


def sample(name: str, *, chat_id: int, message_id: int | None = None, **changes: Any) -> dict:
    """A sample update (`name` relative to samples/) moved to `chat_id` with a fresh update id.

    `changes` are set on the update's message (e.g. text=..., edit_date=...).
    """
    update = copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text()))
    update["update_id"] = new_update_id()
    for kind in MESSAGE_UPDATE_KINDS & update.keys():
        message = update[kind]
        old_chat = message["chat"]["id"]
        for inner in (message, message.get("reply_to_message") or {}):
            if inner:
                inner["chat"]["id"] = chat_id
        if message.get("sender_chat", {}).get("id") == old_chat:
            message["sender_chat"]["id"] = chat_id
        if message_id is not None:
            message["message_id"] = message_id
        message.update(changes)
    return update


def _message_change(path: tuple[str, ...], value: Any) -> Callable[[dict], None]:
    def change(update: dict) -> None:
        target = update["message"]
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value

    return change


def _shift_update_id(base: int) -> Callable[[dict], None]:
    """An update id beyond 64 bits, still unique to the test (JetStream deduplicates by it)."""
    return lambda update: update.update(update_id=base + update["update_id"] * (base // abs(base)))


# Updates holding values PostgreSQL can't store as they are. Once refused with 400 (and so lost),
# now each is acknowledged: name → (how to spoil a "text" sample, what the worker makes of it:
# "stored" after repairing the jsonb, or "unusable" when a column can't hold the value).
HOSTILE: dict[str, tuple[Callable[[dict], None], str]] = {
    "update_id over int64": (_shift_update_id(2**63), "unusable"),
    "update_id 10**20": (_shift_update_id(10**20), "unusable"),
    "update_id under int64": (_shift_update_id(-(2**63) - 1), "unusable"),
    "chat id under int64": (_message_change(("chat", "id"), -(2**63) - 1), "unusable"),
    "message_id over int64": (_message_change(("message_id",), 10**20), "unusable"),
    "author id over int64": (_message_change(("from", "id"), 2**64), "unusable"),
    "date as an ISO string": (_message_change(("date",), "0001-01-01T00:00:00+05:00"), "unusable"),
    "date beyond year 9999": (_message_change(("date",), 10**15), "unusable"),
    "message not an object": (lambda update: update.update(message=[1, 2]), "unusable"),
    "message without chat": (lambda update: update["message"].pop("chat"), "unusable"),
    "NUL in text": (_message_change(("text",), "a\x00b"), "stored"),
    "NUL in a name": (_message_change(("from", "first_name"), "\x00"), "stored"),
    "NUL in a key": (_message_change(("odd\x00key",), 1), "stored"),
    "NUL deep in an unknown field": (
        _message_change(("extra", "list"), [1, {"x": "\x00"}]),
        "stored",
    ),
    "unpaired surrogate": (_message_change(("text",), "a\ud800b"), "stored"),
    "unpaired surrogate in a key": (_message_change(("\udfff",), "x"), "stored"),
    "integer over int64 in an unknown field": (_message_change(("extra",), 10**30), "stored"),
    "infinite number": (_message_change(("extra", "n"), float("inf")), "stored"),
    "not a number": (_message_change(("extra", "n"), float("nan")), "stored"),
}


def hostile_update(case: str, chat_id: int) -> tuple[dict, str]:
    spoil, expected = HOSTILE[case]
    update = sample("text", chat_id=chat_id)
    spoil(update)
    return update, expected


async def post_update(
    client: httpx.AsyncClient, update: dict | bytes, *, secret: str | None = SECRET
) -> httpx.Response:
    """Posts `update` as JSON, written by `json.dumps` (so inf and NaN as Infinity and NaN)."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return await client.post(
        "/webhook/telegram", content=body, headers={**headers, "Content-Type": "application/json"}
    )


async def wait_for(check: Callable[[], Awaitable[Any]], within: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy; return that."""
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)


async def create_project(client: httpx.AsyncClient, name: str = "Acme", **settings: int) -> int:
    response = await client.post("/api/projects", json={"name": name, "settings": settings})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def bind(client: httpx.AsyncClient, project_id: int, chat_id: int) -> httpx.Response:
    """A global admin's direct binding."""
    return await client.post(
        "/api/ingestion/bindings",
        json={"project_id": project_id, "chat_id": chat_id, "title": "Acme Team"},
        headers={"X-Actor": "admin@example.com"},
    )


async def bind_code(client: httpx.AsyncClient, project_id: int) -> str:
    response = await client.post(
        f"/api/projects/{project_id}/sources/bind-codes", headers={"X-Actor": "pm@example.com"}
    )
    assert response.status_code == 201, response.text
    return response.json()["code"]


async def bound_project(client: httpx.AsyncClient) -> tuple[int, int]:
    """A new project with a new chat bound to it: (project_id, chat_id)."""
    project_id = await create_project(client)
    chat_id = new_chat_id()
    assert (await bind(client, project_id, chat_id)).status_code == 201
    return project_id, chat_id


async def stored_messages(engine: AsyncEngine, project_id: int) -> list[Message]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Message).where(Message.project_id == project_id).order_by(Message.id)
        )
        return list(rows)


async def outbox_drained(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        unpublished = (
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
        return await conn.scalar(unpublished) == 0


async def stream_events(js: JetStreamContext, project_id: int) -> list[RawEnvelope]:
    """Every event of the project's `messages` topic on the SPACES stream, in stream order."""
    messages = await stream_messages(js, space_filter(project_id, Topic.messages))
    return [Envelope.from_bytes(msg.data) for msg in messages]


async def settled_events(
    js: JetStreamContext,
    engine: AsyncEngine,
    project_id: int,
    *,
    at_least: int = 1,
    event_type: str | None = "message.updated",
) -> list[RawEnvelope]:
    """The project's events (of one type, or all) once the outbox is published and at least
    `at_least` of them are on the stream."""

    async def check() -> list[RawEnvelope] | None:
        if not await outbox_drained(engine):
            return None
        events = [
            event
            for event in await stream_events(js, project_id)
            if event_type is None or event.type == event_type
        ]
        return events if len(events) >= at_least else None

    return await wait_for(check)


async def updates_last_seq(js: JetStreamContext, settings: IngestionSettings) -> int:
    """The last sequence of the updates stream: how many updates were ever published to it."""
    return (await js.stream_info(settings.updates_stream)).state.last_seq


async def _work_queue_drained(js: JetStreamContext, stream: str, durable: str) -> bool:
    try:
        info = await js.stream_info(stream)
        consumer = await js.consumer_info(stream, durable)
    except NotFoundError:
        return False
    return info.state.messages == 0 and consumer.num_ack_pending == 0


async def drained(js: JetStreamContext, settings: IngestionSettings) -> bool:
    """Every published update and every queued job was handled and acknowledged (both streams
    are work queues)."""
    return await _work_queue_drained(
        js, settings.updates_stream, settings.updates_durable
    ) and await _work_queue_drained(js, settings.jobs_stream, settings.jobs_durable)


async def reserve_project_ids(engine: AsyncEngine, project_ids: itertools.count, n: int) -> None:
    """Start the projects sequence in a block of ids no other test of the session uses."""
    block = [next(project_ids) for _ in range(n)]
    async with engine.begin() as conn:
        await conn.execute(text(f"ALTER TABLE projects ALTER COLUMN id RESTART WITH {block[0]}"))


async def skipped_update(engine: AsyncEngine, update_id: int) -> SkippedUpdate | None:
    async with engine.connect() as conn:
        # A numeric column: said explicitly, or an id beyond 64 bits is sent as a bigint.
        stmt = select(SkippedUpdate).where(SkippedUpdate.update_id == literal(update_id, Numeric()))
        return (await conn.execute(stmt)).first()
