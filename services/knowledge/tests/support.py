"""Helpers of the knowledge tests: read-model records, publishing them, waiting for a state."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from nats.js import JetStreamContext

from tasktracker.contracts.enums import MessageKind
from tasktracker.contracts.events import MessageAuthor, MessageRecord, MessageUpdated, make_envelope

_ids = itertools.count(1)
T = TypeVar("T")


# Ids are ingestion's, unique across projects; other test sessions publish to the same
# stream, so each session takes ids of its own.
_BASE = secrets.randbelow(10**6) * 10**9


def message_id() -> int:
    """A read-model id no other test (of this session or another) uses."""
    return _BASE + next(_ids)


BASE_TIME = datetime(2026, 1, 5, 9, tzinfo=UTC)


def record(
    project_id: int,
    id: int,
    text: str,
    *,
    minute: float = 0,
    edited_minute: float | None = None,
    update_id: int | None = None,
    author: str = "Anna",
) -> MessageRecord:
    return MessageRecord(
        id=id,
        project_id=project_id,
        chat_id=-100,
        message_id=id,
        update_id=update_id if update_id is not None else id,
        author=MessageAuthor(display_name=author),
        text=text,
        kind=MessageKind.text,
        sent_at=BASE_TIME + timedelta(minutes=minute),
        edited_at=None if edited_minute is None else BASE_TIME + timedelta(minutes=edited_minute),
    )


async def publish(js: JetStreamContext, *records: MessageRecord) -> None:
    """As ingestion's relay publishes: the envelope's id as `Nats-Msg-Id`."""
    for item in records:
        envelope = make_envelope(
            MessageUpdated(message=item), project_id=item.project_id, producer="ingestion"
        )
        await js.publish(
            envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
        )


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 30
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
