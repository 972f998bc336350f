"""Runs in the database: creation under the one-unclosed-run index, conditional transitions,
leases, counts. Each function works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tasktracker.analysis.db.models import ProposalRow, RunRow
from tasktracker.analysis.domain.lifecycle import UNCLOSED_RUN_STATUSES, RunStatus, sources
from tasktracker.contracts.states import InvalidTransition, ProposalStatus

UNIQUE_VIOLATION = "23505"
ONE_UNCLOSED_INDEX = "uq_runs_one_unclosed_per_project"


class RunExists(Exception):
    """The project already has an unclosed run (the database said so)."""

    def __init__(self, run: RunRow) -> None:
        super().__init__(f"run {run.id} is still {run.status}")
        self.run = run


async def create(
    session: AsyncSession,
    *,
    project_id: int,
    start: datetime,
    end: datetime,
    created_by: str,
) -> RunRow:
    """Insert a pending run; RunExists when the project has an unclosed one. The partial
    unique index decides: of concurrent creates, one commits and the others wait for it and
    fail, so they can name it."""
    row = RunRow(
        id=uuid.uuid4(),
        project_id=project_id,
        status=str(RunStatus.pending),
        window_start=start,
        window_end=end,
        created_by=created_by,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as error:
        if ONE_UNCLOSED_INDEX not in str(error.orig):
            raise
        existing = await unclosed(session, project_id)
        if existing is None:  # closed meanwhile: the client may try again
            raise
        raise RunExists(existing) from None
    await session.refresh(row)
    return row


async def unclosed(session: AsyncSession, project_id: int) -> RunRow | None:
    stmt = select(RunRow).where(
        RunRow.project_id == project_id,
        RunRow.status.in_([str(s) for s in UNCLOSED_RUN_STATUSES]),
    )
    return (await session.execute(stmt)).scalars().first()


async def get(session: AsyncSession, project_id: int, run_id: uuid.UUID) -> RunRow | None:
    stmt = select(RunRow).where(RunRow.id == run_id, RunRow.project_id == project_id)
    return (await session.execute(stmt)).scalars().first()


async def lock(session: AsyncSession, run_id: uuid.UUID) -> RunRow | None:
    stmt = select(RunRow).where(RunRow.id == run_id).with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def move(
    session: AsyncSession,
    run_id: uuid.UUID,
    target: RunStatus,
    *,
    project_id: int | None = None,
    where: Sequence[Any] = (),
    **values: Any,
) -> RunRow | None:
    """`UPDATE … SET status = target WHERE status IN (the table's sources of target)`; the
    moved run, or None when it does not exist (in the project). A run in another status
    raises InvalidTransition: a 409, never a silent no-op."""
    conditions = [RunRow.id == run_id, RunRow.status.in_(sources(target)), *where]
    if project_id is not None:
        conditions.append(RunRow.project_id == project_id)
    stmt = (
        update(RunRow)
        .where(*conditions)
        .values(status=str(target), **values)
        .returning(RunRow)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    moved = (await session.execute(stmt)).scalars().first()
    if moved is not None:
        return moved
    current = await (get(session, project_id, run_id) if project_id else lock(session, run_id))
    if current is None:
        return None
    raise InvalidTransition("run", current.status, target)


async def request_start(
    session: AsyncSession, project_id: int, run_id: uuid.UUID, actor: str
) -> RunRow | None:
    """Mark a pending run's start as requested, once: of two concurrent starts one matches."""
    stmt = (
        update(RunRow)
        .where(
            RunRow.id == run_id,
            RunRow.project_id == project_id,
            RunRow.status == str(RunStatus.pending),
            RunRow.start_requested_at.is_(None),
        )
        .values(start_requested_at=func.now(), start_requested_by=actor)
        .returning(RunRow)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    moved = (await session.execute(stmt)).scalars().first()
    if moved is not None:
        return moved
    current = await get(session, project_id, run_id)
    if current is None:
        return None
    raise InvalidTransition("run", current.status, RunStatus.running)


async def take_lease(session: AsyncSession, run_id: uuid.UUID, owner: str, seconds: float) -> bool:
    """Hold the running run for `seconds` unless another live worker holds it."""
    stmt = (
        update(RunRow)
        .where(
            RunRow.id == run_id,
            RunRow.status == str(RunStatus.running),
            or_(
                RunRow.lease_owner.is_(None),
                RunRow.lease_owner == owner,
                RunRow.lease_until < func.now(),
            ),
        )
        .values(lease_owner=owner, lease_until=func.now() + _seconds(seconds))
        .returning(RunRow.id)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.execute(stmt)).first() is not None


async def release_lease(session: AsyncSession, run_id: uuid.UUID, owner: str) -> None:
    """Let a retry (or another worker) take the run at once."""
    await session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def _seconds(seconds: float) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def pending_proposals(session: AsyncSession, run_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        ProposalRow.run_id == run_id, ProposalRow.status == str(ProposalStatus.pending)
    )
    return int(await session.scalar(stmt) or 0)


async def list_for_project(
    session: AsyncSession,
    project_id: int,
    *,
    status: str | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[RunRow]:
    """Newest first; `before` is the (created_at, id) of the last run of the previous page."""
    stmt = select(RunRow).where(RunRow.project_id == project_id)
    if status is not None:
        stmt = stmt.where(RunRow.status == status)
    if before is not None:
        created, run_id = before
        stmt = stmt.where(
            or_(
                RunRow.created_at < created,
                and_(RunRow.created_at == created, RunRow.id < run_id),
            )
        )
    stmt = stmt.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def earlier_proposals(
    session: AsyncSession, run_id: uuid.UUID, batch_index: int
) -> list[ProposalRow]:
    """The run's proposals of the batches before `batch_index` that no batch withdrew, in
    batch order: the context a batch gets. Batches run `concurrency` at a time see what the
    batches before them had committed when they started."""
    rows = await session.execute(
        select(ProposalRow)
        .where(
            ProposalRow.run_id == run_id,
            ProposalRow.batch_index < batch_index,
            ProposalRow.withdrawn_in_batch.is_(None),
        )
        .order_by(ProposalRow.batch_index, ProposalRow.source_message_ids, ProposalRow.id)
    )
    return list(rows.scalars())


async def withdraw(
    session: AsyncSession, proposal_id: uuid.UUID, batch_index: int, message_ids: list[int]
) -> bool:
    """Mark a pending proposal withdrawn by a later batch; False when it is decided already
    (a decision stands) or was withdrawn before."""
    done = await session.execute(
        update(ProposalRow)
        .where(
            ProposalRow.id == proposal_id,
            ProposalRow.status == ProposalStatus.pending,
            ProposalRow.withdrawn_in_batch.is_(None),
        )
        .values(withdrawn_in_batch=batch_index, withdrawn_by=message_ids)
        .returning(ProposalRow.id)
    )
    return done.first() is not None
