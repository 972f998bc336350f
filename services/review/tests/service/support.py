"""Helpers of the review tests: analysis's events as analysis publishes them, stored state."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tasktracker.contracts.enums import Category, MessageKind, Priority
from tasktracker.contracts.events import (
    EventPayload,
    MessageAuthor,
    MessageRecord,
    MessageUpdated,
    RunClosed,
    RunMetrics,
    TaskProposalData,
    TaskProposalsCreated,
    make_envelope,
)
from tasktracker.review.db.models import RunRow

T = TypeVar("T")
_ids = itertools.count(1)
# Message ids are ingestion's, unique across projects; sessions share the stream.
_BASE = secrets.randbelow(10**6) * 10**9
BASE_TIME = datetime(2026, 1, 5, 9, tzinfo=UTC)


def message_id() -> int:
    return _BASE + next(_ids)


def proposal(
    title: str,
    *,
    description: str = "",
    batch_index: int = 0,
    sources: list[int] | None = None,
    confidence: float = 0.8,
) -> TaskProposalData:
    return TaskProposalData(
        proposal_id=uuid.uuid4(),
        batch_index=batch_index,
        title=title,
        description=description,
        priority=Priority.high,
        category=Category.bug,
        source_message_ids=sources if sources is not None else [message_id()],
        confidence=confidence,
    )


def created(run_id: uuid.UUID, *proposals: TaskProposalData) -> TaskProposalsCreated:
    return TaskProposalsCreated(
        run_id=run_id, batch_index=proposals[0].batch_index, proposals=list(proposals)
    )


def closed(run_id: uuid.UUID, total: int) -> RunClosed:
    return RunClosed(
        run_id=run_id,
        closed_by="pm-anna",
        metrics=RunMetrics(
            total=total,
            approved=total,
            rejected=0,
            merged=0,
            edited_before_approval=0,
            approval_rate=1.0 if total else 0.0,
            rejection_rate=0.0,
            merge_rate=0.0,
            edited_before_approval_rate=0.0,
        ),
    )


def message(project_id: int, id: int, text: str, *, edited_minute: float | None = None):
    return MessageRecord(
        id=id,
        project_id=project_id,
        chat_id=-100,
        message_id=id,
        update_id=id if edited_minute is None else id + 1_000_000,
        author=MessageAuthor(display_name="Anna"),
        text=text,
        kind=MessageKind.text,
        sent_at=BASE_TIME,
        edited_at=None if edited_minute is None else BASE_TIME + timedelta(minutes=edited_minute),
    )


async def publish(
    js: JetStreamContext, project_id: int, payload: EventPayload, producer: str = "analysis"
) -> None:
    """As a relay publishes: the envelope's id as `Nats-Msg-Id`. Each call is a new envelope,
    so the duplicate window does not hide a redelivery test's second copy."""
    envelope = make_envelope(payload, project_id=project_id, producer=producer)
    await js.publish(
        envelope.subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.msg_id}
    )


async def publish_messages(js: JetStreamContext, *records: MessageRecord) -> None:
    for record in records:
        await publish(js, record.project_id, MessageUpdated(message=record), "ingestion")


async def run_row(sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> RunRow | None:
    async with sessions() as session:
        return (await session.execute(select(RunRow).where(RunRow.id == run_id))).scalar()


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


async def tally(sessions, run_id: uuid.UUID) -> dict[str, int] | None:
    row = await run_row(sessions, run_id)
    if row is None:
        return None
    return {
        name: getattr(row, name) for name in ("total", "pending", "approved", "rejected", "merged")
    }


async def seed_run(sessions, project_id: int, *proposals: TaskProposalData) -> uuid.UUID:
    """A run with these proposals stored as the consumer stores them (one batch)."""
    from tasktracker.review.db import intake
    from tasktracker.servicekit import db

    run_id = uuid.uuid4()
    async with db.transaction(sessions) as session:
        await intake.store_proposals(
            session, [(project_id, created(run_id, *proposals))], intake.Similarity(70, 5000)
        )
    return run_id


async def close_run(sessions, project_id: int, run_id: uuid.UUID) -> None:
    from tasktracker.review.db import intake
    from tasktracker.servicekit import db

    async with db.transaction(sessions) as session:
        await intake.close_runs(session, [(project_id, closed(run_id, 0))])
