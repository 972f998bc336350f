"""Extractions: requests, the one-per-window rule, the job's claim and checkpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.knowledge.db.models import ExtractionRow

ACTIVE = ("pending", "running")


async def overlapping(
    session: AsyncSession, project_id: int, start: datetime, end: datetime
) -> ExtractionRow | None:
    """A pending or running extraction of the project whose window meets [start, end).

    Takes a transaction-scoped advisory lock on the project first, so two concurrent requests
    cannot both find no overlap and both be accepted."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('knowledge-extraction'), :project)"),
        {"project": project_id % 2**31},
    )
    stmt = (
        select(ExtractionRow)
        .where(
            ExtractionRow.project_id == project_id,
            ExtractionRow.status.in_(ACTIVE),
            ExtractionRow.window_start < end,
            ExtractionRow.window_end > start,
        )
        .order_by(ExtractionRow.created_at)
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def create(
    session: AsyncSession,
    *,
    project_id: int,
    start: datetime,
    end: datetime,
    requested_ids: list[int] | None,
    chunk_size: int,
    requested_by: str | None,
) -> ExtractionRow:
    row = ExtractionRow(
        id=uuid.uuid4(),
        project_id=project_id,
        status="pending",
        window_start=start,
        window_end=end,
        requested_ids=requested_ids,
        chunk_size=chunk_size,
        requested_by=requested_by,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def get(
    session: AsyncSession, project_id: int, extraction_id: uuid.UUID
) -> ExtractionRow | None:
    stmt = select(ExtractionRow).where(
        ExtractionRow.id == extraction_id, ExtractionRow.project_id == project_id
    )
    return (await session.execute(stmt)).scalars().first()


async def lock(session: AsyncSession, extraction_id: uuid.UUID) -> ExtractionRow | None:
    stmt = select(ExtractionRow).where(ExtractionRow.id == extraction_id).with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def list_for_project(
    session: AsyncSession, project_id: int, limit: int
) -> list[ExtractionRow]:
    stmt = (
        select(ExtractionRow)
        .where(ExtractionRow.project_id == project_id)
        .order_by(ExtractionRow.created_at.desc(), ExtractionRow.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def pending_before(session: AsyncSession, cutoff: datetime, limit: int) -> list[uuid.UUID]:
    """Extractions still waiting for their job, requested before `cutoff`: their kick may
    have been lost."""
    stmt = (
        select(ExtractionRow.id)
        .where(ExtractionRow.status == "pending", ExtractionRow.created_at < cutoff)
        .order_by(ExtractionRow.created_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
