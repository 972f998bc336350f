"""The service's one job, `knowledge_extraction`: its name, its id and how it is kicked.

An extraction is saved, committed, then kicked. A kick that fails (NATS away) must not leave
it `pending` forever, blocking its window: the worker sweeps pending extractions older than
`extraction_requeue_after_seconds` at start and every as often, and kicks them again. That is
safe because the job is idempotent (it claims only a pending extraction, and resumes a
running one after its last checkpoint); a kick repeated within the stream's duplicate window
is dropped by JetStream, as the job id is the extraction's."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

from tasktracker.knowledge.db import extractions
from tasktracker.servicekit import db

log = logging.getLogger(__name__)
KNOWLEDGE_EXTRACTION = "knowledge_extraction"
SWEEP_BATCH = 500


async def enqueue_extraction(broker: AsyncBroker, extraction_id: uuid.UUID, max_tries: int) -> None:
    """One id per extraction (a repeated kick is dropped by the duplicate window); waits for
    JetStream's PubAck. `max_retries` is the retry middleware's number of tries."""
    kicker: AsyncKicker[Any, Any] = AsyncKicker(
        KNOWLEDGE_EXTRACTION, broker, labels={"max_retries": max_tries}
    )
    await kicker.with_task_id(f"extraction-{extraction_id}").kiq(str(extraction_id))


async def kick_stale_pending(
    broker: AsyncBroker,
    sessions: async_sessionmaker[AsyncSession],
    older_than: float,
    max_tries: int,
) -> int:
    """Kick again every extraction pending for longer than `older_than` seconds."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    async with db.transaction(sessions) as session:
        stale = await extractions.pending_before(session, cutoff, SWEEP_BATCH)
    for extraction_id in stale:
        await enqueue_extraction(broker, extraction_id, max_tries)
    if stale:
        log.info("kicked %d pending extraction(s) again", len(stale))
    return len(stale)


async def sweep_forever(
    broker: AsyncBroker,
    sessions: async_sessionmaker[AsyncSession],
    every: float,
    max_tries: int,
) -> None:
    """The worker's sweeper: at start, then every `every` seconds; a failed sweep (NATS or
    the database away) is tried again at the next one."""
    while True:
        try:
            await kick_stale_pending(broker, sessions, every, max_tries)
        except Exception as error:
            log.warning("sweeping pending extractions failed: %r", error)
        await asyncio.sleep(every)
