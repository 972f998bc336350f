"""Helpers of the analysis service tests: messages in the read model, runs through the API,
events of a run, waiting for a state."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from nats.js import JetStreamContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.analysis.db import read_models
from tasktracker.analysis.db.models import ProjectSettingsRow, outbox
from tasktracker.contracts.enums import MessageKind
from tasktracker.contracts.envelope import Envelope
from tasktracker.contracts.events import EventPayload, MessageAuthor, MessageRecord, make_envelope
from tasktracker.contracts.subjects import Topic, space_filter
from tasktracker.servicekit import db
from tests.fixtures.jetstream import stream_messages

T = TypeVar("T")
_ids = itertools.count(1)
_BASE = secrets.randbelow(10**6) * 10**9  # ids of this session only (a shared stream)
BASE_TIME = datetime(2026, 1, 5, 9, tzinfo=UTC)
WINDOW = {"window_start": "2026-01-05T00:00:00Z", "window_end": "2026-01-06T00:00:00Z"}


def message_id() -> int:
    return _BASE + next(_ids)


def record(
    project_id: int, text: str, *, minute: float, author: str = "Anna", username: str = "anna"
) -> MessageRecord:
    id = message_id()
    return MessageRecord(
        id=id,
        project_id=project_id,
        chat_id=-100,
        message_id=id,
        update_id=id,
        author=MessageAuthor(display_name=author, username=username, telegram_user_id=7),
        text=text,
        kind=MessageKind.text,
        sent_at=BASE_TIME + timedelta(minutes=minute),
    )


async def seed(
    sessions: async_sessionmaker[AsyncSession],
    project_id: int,
    count: int,
    *,
    gap_every: int | None = None,
    concurrency: int = 1,
    max_messages: int = 50,
) -> list[int]:
    """`count` task-like messages a minute apart (a 15-minute gap after every `gap_every`), and
    the project's settings, straight into the read models."""
    records = []
    minute = 0.0
    for n in range(count):
        if gap_every and n and n % gap_every == 0:
            minute += 15
        records.append(record(project_id, f"Please fix bug number {n}", minute=minute))
        minute += 1
    async with db.transaction(sessions) as session:
        await read_models.upsert_messages(session, records)
        session.add(
            ProjectSettingsRow(
                project_id=project_id,
                batch_gap_minutes=10,
                batch_max_messages=max_messages,
                analysis_concurrency=concurrency,
                occurred_at=BASE_TIME,
            )
        )
    return [r.id for r in records]


async def create_run(client: httpx.AsyncClient, project_id: int) -> dict[str, Any]:
    answer = await client.post(f"/api/projects/{project_id}/runs", json=WINDOW)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def run_state(client: httpx.AsyncClient, project_id: int, run_id: Any) -> dict[str, Any]:
    answer = await client.get(f"/api/projects/{project_id}/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def staged_events(
    sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID | str
) -> list[Envelope[Any]]:
    """The run's events in outbox order: the order the relay publishes them in."""
    async with db.transaction(sessions) as session:
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.seq))).scalars()
        events = [Envelope.from_bytes(raw) for raw in rows]
    return [e for e in events if str(e.data.get("run_id")) == str(run_id)]


async def stream_events(js: JetStreamContext, project_id: int, topic: Topic) -> list[Envelope]:
    """Every event of the project's topic on the SPACES stream, in stream order."""
    messages = await stream_messages(js, space_filter(project_id, topic))
    return [Envelope.from_bytes(msg.data) for msg in messages]


async def outbox_drained(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with db.transaction(sessions) as session:
        left = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        return await session.scalar(left) == 0


async def publish(js: JetStreamContext, payload: EventPayload, project_id: int, producer: str):
    envelope = make_envelope(payload, project_id=project_id, producer=producer)
    await js.publish(
        envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
    )
    return envelope


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 60
) -> T:
    """Poll until `done(value)`, failing after `seconds` (a deadline, not a measurement)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await probe()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {seconds} s: {value!r}")
        await asyncio.sleep(0.05)
